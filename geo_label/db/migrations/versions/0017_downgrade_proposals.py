"""Two security officers to lower a marking below its floor (issue 15): one proposes, with a justification;
another approves or denies; until then nothing changes.

A proposal carries the annotation's marking as it stands (so row-level security hides a proposal from whom
may not read the annotation) and the marking proposed, as a banner. Read by the project's security officers
who may read it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

# Frozen copy of the marking columns (a migration must not change when a later one does).
MARKING_COLUMNS = """
    classification smallint NOT NULL CHECK (classification BETWEEN 0 AND 3),
    sci_controls text[] NOT NULL DEFAULT '{}',
    dissemination text[] NOT NULL DEFAULT '{}',
    rel_to text[] NOT NULL DEFAULT '{}',
    derived_from text[] NOT NULL DEFAULT '{}',
    marked_by uuid,
    marked_at timestamptz NOT NULL DEFAULT now()
"""

READABLE = (
    "geo_label_member_of(project_id) AND geo_label_has_role('security_officer') "
    "AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to)"
)

TABLES = f"""
CREATE TABLE downgrade_proposals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    annotation_id uuid NOT NULL,
    project_id uuid NOT NULL REFERENCES projects(id),
    version integer NOT NULL,
    to_marking text NOT NULL,
    justification text NOT NULL CHECK (length(justification) >= 10),
    proposed_by uuid NOT NULL REFERENCES users(id),
    proposed_at timestamptz NOT NULL DEFAULT now(),
    state varchar(16) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by uuid REFERENCES users(id),
    decided_at timestamptz,
    comment text NOT NULL DEFAULT '',
    CHECK (state = 'pending' OR (decided_by IS NOT NULL AND decided_by <> proposed_by)),
    {MARKING_COLUMNS}
);
CREATE INDEX downgrade_proposals_state ON downgrade_proposals (state, proposed_at);

ALTER TABLE downgrade_proposals ENABLE ROW LEVEL SECURITY;
ALTER TABLE downgrade_proposals FORCE ROW LEVEL SECURITY;
CREATE POLICY downgrade_proposals_read ON downgrade_proposals FOR SELECT USING ({READABLE});
CREATE POLICY downgrade_proposals_insert ON downgrade_proposals FOR INSERT
    WITH CHECK ({READABLE} AND proposed_by::text = geo_label_ctx('user_id'));
CREATE POLICY downgrade_proposals_update ON downgrade_proposals FOR UPDATE
    USING ({READABLE}) WITH CHECK ({READABLE});

REVOKE ALL ON downgrade_proposals FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON downgrade_proposals TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE downgrade_proposals")
