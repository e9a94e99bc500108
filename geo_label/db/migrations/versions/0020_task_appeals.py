"""Appeals (issue 15, fair treatment of labelers): a labeler may appeal a rejection of their task once, with
a comment; a reviewer other than the one who rejected it decides, and that decision stands. Both reviews and
the appeal are kept.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

# Frozen copies (a migration must not change when a later one does).
MARKING_COLUMNS = """
    classification smallint NOT NULL CHECK (classification BETWEEN 0 AND 3),
    sci_controls text[] NOT NULL DEFAULT '{}',
    dissemination text[] NOT NULL DEFAULT '{}',
    rel_to text[] NOT NULL DEFAULT '{}',
    derived_from text[] NOT NULL DEFAULT '{}',
    marked_by uuid,
    marked_at timestamptz NOT NULL DEFAULT now()
"""
RULE = (
    "geo_label_member_of(project_id) "
    "AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to)"
)

TABLES = f"""
CREATE TABLE task_appeals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id uuid NOT NULL UNIQUE REFERENCES tasks(id),
    project_id uuid NOT NULL REFERENCES projects(id),
    labeler uuid NOT NULL REFERENCES users(id),
    rejected_review uuid NOT NULL REFERENCES task_reviews(id),
    rejected_by uuid NOT NULL REFERENCES users(id),
    comment text NOT NULL CHECK (length(comment) > 0),
    at timestamptz NOT NULL DEFAULT now(),
    decided_review uuid REFERENCES task_reviews(id),
    {MARKING_COLUMNS}
);

ALTER TABLE task_appeals ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_appeals FORCE ROW LEVEL SECURITY;
CREATE POLICY task_appeals_read ON task_appeals FOR SELECT USING ({RULE});
CREATE POLICY task_appeals_insert ON task_appeals FOR INSERT WITH CHECK ({RULE});
CREATE POLICY task_appeals_update ON task_appeals FOR UPDATE USING ({RULE}) WITH CHECK ({RULE});

REVOKE ALL ON task_appeals FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON task_appeals TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE task_appeals")
