"""Labeling workflow: tasks (one per chip and consensus replica), reviews, gold chips with reference
features, gold scores; the project's workflow settings. Every new table carries its chip's marking and gets
the content tables' row-level security (ENABLE + FORCE, read/insert/update policies).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

# Frozen copies of 0001's definitions: a migration must not change when a later one does.
MARKING_COLUMNS = """
    classification smallint NOT NULL CHECK (classification BETWEEN 0 AND 3),
    sci_controls text[] NOT NULL DEFAULT '{}',
    dissemination text[] NOT NULL DEFAULT '{}',
    rel_to text[] NOT NULL DEFAULT '{}',
    derived_from text[] NOT NULL DEFAULT '{}',
    marked_by uuid,
    marked_at timestamptz NOT NULL DEFAULT now()
"""

READ_INSERT_POLICIES = """
CREATE POLICY {table}_read ON {table} FOR SELECT
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY {table}_insert ON {table} FOR INSERT
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

UPDATE_POLICY = """
CREATE POLICY {table}_update ON {table} FOR UPDATE
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to))
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

DELETE_POLICY = """
CREATE POLICY {table}_delete ON {table} FOR DELETE
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

PROJECT_SETTINGS = """
ALTER TABLE projects
    ADD COLUMN lease_minutes integer NOT NULL DEFAULT 120 CHECK (lease_minutes BETWEEN 1 AND 10080),
    ADD COLUMN consensus_k smallint NOT NULL DEFAULT 1 CHECK (consensus_k BETWEEN 1 AND 10),
    ADD COLUMN agreement_threshold double precision NOT NULL DEFAULT 0.7
        CHECK (agreement_threshold BETWEEN 0 AND 1);
"""

TABLES = f"""
-- One task per chip and consensus replica (0 .. consensus_k - 1). The marking is the chip's, copied so that
-- the same policy as every content table filters it without a join.
CREATE TABLE tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects(id),
    chip_id uuid NOT NULL REFERENCES chips(id),
    replica smallint NOT NULL DEFAULT 0 CHECK (replica BETWEEN 0 AND 9),
    state varchar(16) NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'in_progress', 'submitted', 'accepted', 'rejected')),
    assignee uuid REFERENCES users(id),
    priority integer NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    started_at timestamptz,
    last_seen_at timestamptz,
    work_seconds double precision NOT NULL DEFAULT 0 CHECK (work_seconds >= 0),
    submitted_at timestamptz,
    submissions integer NOT NULL DEFAULT 0,
    skipped_by uuid[] NOT NULL DEFAULT '{{}}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS},
    UNIQUE (chip_id, replica),
    CHECK ((state = 'open') = (assignee IS NULL)),
    CHECK ((state = 'in_progress') = (lease_expires_at IS NOT NULL))
);
-- The queue's order, per project and state: next_task reads it from the front.
CREATE INDEX tasks_queue ON tasks (project_id, state, priority DESC, replica, created_at, id);
CREATE INDEX tasks_assignee ON tasks (assignee, project_id, state);
CREATE INDEX tasks_leases ON tasks (project_id, lease_expires_at) WHERE state = 'in_progress';

-- Review decisions and comments, append-only: a rejected and then accepted task keeps both.
CREATE TABLE task_reviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id uuid NOT NULL REFERENCES tasks(id),
    project_id uuid NOT NULL REFERENCES projects(id),
    chip_id uuid NOT NULL REFERENCES chips(id),
    reviewer uuid NOT NULL REFERENCES users(id),
    labeler uuid NOT NULL REFERENCES users(id),
    decision varchar(8) NOT NULL CHECK (decision IN ('accept', 'reject')),
    comment text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS},
    CHECK (reviewer <> labeler)
);
CREATE INDEX task_reviews_task ON task_reviews (task_id, at);
CREATE INDEX task_reviews_labeler ON task_reviews (project_id, labeler);

-- Gold chips and their reference features. References live apart from annotations: labelers read every
-- annotation on the chips they label, and must never see the answers.
CREATE TABLE gold_chips (
    chip_id uuid PRIMARY KEY REFERENCES chips(id),
    project_id uuid NOT NULL REFERENCES projects(id),
    created_by uuid REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS}
);
CREATE INDEX gold_chips_project ON gold_chips (project_id);

CREATE TABLE gold_features (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chip_id uuid NOT NULL REFERENCES gold_chips(chip_id),
    project_id uuid NOT NULL REFERENCES projects(id),
    label_class varchar(100) NOT NULL,
    geometry geometry(Geometry, 4326) NOT NULL,
    created_by uuid REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS}
);
CREATE INDEX gold_features_chip ON gold_features (chip_id);

-- A labeler's score on a gold task (the latest submission counts).
CREATE TABLE gold_scores (
    task_id uuid PRIMARY KEY REFERENCES tasks(id),
    project_id uuid NOT NULL REFERENCES projects(id),
    chip_id uuid NOT NULL REFERENCES chips(id),
    labeler uuid NOT NULL REFERENCES users(id),
    true_positives integer NOT NULL,
    false_positives integer NOT NULL,
    false_negatives integer NOT NULL,
    precision double precision NOT NULL,
    recall double precision NOT NULL,
    f1 double precision NOT NULL,
    scored_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS}
);
CREATE INDEX gold_scores_labeler ON gold_scores (project_id, labeler);
"""

NEW_TABLES = ("tasks", "task_reviews", "gold_chips", "gold_features", "gold_scores")
UPDATABLE = ("tasks", "gold_chips", "gold_scores")
DELETABLE = ("gold_features",)

GRANTS = f"""
GRANT SELECT, INSERT, UPDATE ON tasks, gold_chips, gold_scores TO {SERVICE_ROLE};
GRANT SELECT, INSERT ON task_reviews TO {SERVICE_ROLE};
GRANT SELECT, INSERT, DELETE ON gold_features TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(PROJECT_SETTINGS)
    op.execute(TABLES)
    for table in NEW_TABLES:
        op.execute(
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
        )
        op.execute(READ_INSERT_POLICIES.format(table=table))
    for table in UPDATABLE:
        op.execute(UPDATE_POLICY.format(table=table))
    for table in DELETABLE:
        op.execute(DELETE_POLICY.format(table=table))
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE gold_scores, gold_features, gold_chips, task_reviews, tasks")
    op.execute(
        "ALTER TABLE projects DROP COLUMN agreement_threshold, DROP COLUMN consensus_k, "
        "DROP COLUMN lease_minutes"
    )
