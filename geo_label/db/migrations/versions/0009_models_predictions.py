"""Model-assisted labeling (issue 13): models registered per project, their predictions, and the provenance
of an annotation accepted from a prediction.

* ``models``: one row per project, name and version. It carries its project's marking (copied), so the
  content tables' policies filter it without a join.
* ``predictions``: one row per predicted object, on the one chip it belongs to (see
  geo_label/predictions/placement.py), with its score and marking (the file's joined with the chip's floor).
  ``record_key`` (a digest of the class, the score and the shape) is unique per model: importing a file
  again adds nothing. ``state`` is what a person decided: proposed until someone accepts it unchanged, edits
  it (both make an annotation, ``annotation_id``) or rejects it; nothing is deleted.
* ``annotations.prediction_id``: the prediction an annotation was accepted from, if any.
* ``prediction_imports``: imports through the API, which run in the background: state, progress, report.
* ``projects.queue_order``, ``queue_model_id``, ``queue_threshold``: the labeling queue in the default order,
  or by what a model version is least sure about, or by most predicted objects.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

# Frozen copies of 0002's definitions: a migration must not change when a later one does.
MARKING_COLUMNS = """
    classification smallint NOT NULL CHECK (classification BETWEEN 0 AND 3),
    sci_controls text[] NOT NULL DEFAULT '{}',
    dissemination text[] NOT NULL DEFAULT '{}',
    rel_to text[] NOT NULL DEFAULT '{}',
    derived_from text[] NOT NULL DEFAULT '{}',
    marked_by uuid,
    marked_at timestamptz NOT NULL DEFAULT now()
"""

POLICIES = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY {table}_read ON {table} FOR SELECT
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY {table}_insert ON {table} FOR INSERT
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY {table}_update ON {table} FOR UPDATE
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to))
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

NAME_PATTERN = "'^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$'"

TABLES = f"""
CREATE TABLE models (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects(id),
    name varchar(100) NOT NULL CHECK (name ~ {NAME_PATTERN}),
    version varchar(100) NOT NULL CHECK (version ~ {NAME_PATTERN}),
    description text NOT NULL DEFAULT '',
    created_by uuid REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS},
    UNIQUE (project_id, name, version)
);

-- The project and image are the chip's (the import copies them from the chip row it places the prediction
-- on), kept for the policies and for filters without a join; only the chip and the model are foreign keys:
-- each key is a lookup per inserted row, and a million-row import pays for every one
-- (benchmarks/predictions.py).
CREATE TABLE predictions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    model_id uuid NOT NULL REFERENCES models(id),
    image_id uuid NOT NULL,
    chip_id uuid NOT NULL REFERENCES chips(id),
    label_class varchar(100) NOT NULL,
    geometry geometry(Geometry, 4326) NOT NULL,
    score double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    record_key bytea NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'proposed'
        CHECK (state IN ('proposed', 'accepted', 'edited', 'rejected')),
    annotation_id uuid,
    decided_by uuid REFERENCES users(id),
    decided_at timestamptz,
    imported_by uuid REFERENCES users(id),
    imported_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS},
    UNIQUE (model_id, record_key),
    CHECK ((state = 'proposed') = (decided_at IS NULL)),
    CHECK ((state IN ('accepted', 'edited')) = (annotation_id IS NOT NULL))
);
-- The labeling view reads a chip's suggestions; a model's predictions are found through the unique key.
CREATE INDEX predictions_chip ON predictions (chip_id, model_id, score DESC);
CREATE INDEX predictions_annotation ON predictions (annotation_id) WHERE annotation_id IS NOT NULL;

ALTER TABLE annotations ADD COLUMN prediction_id uuid REFERENCES predictions(id);

-- Imports through the API run in the background: their state, progress (written in transactions of their
-- own while the import runs) and report. The marking is the project's.
CREATE TABLE prediction_imports (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects(id),
    model_id uuid NOT NULL REFERENCES models(id),
    requested_by uuid NOT NULL REFERENCES users(id),
    file_name text NOT NULL,
    file_bytes bigint NOT NULL CHECK (file_bytes >= 0),
    options jsonb NOT NULL DEFAULT '{{}}',
    state varchar(16) NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    records bigint NOT NULL DEFAULT 0,
    report jsonb,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    {MARKING_COLUMNS},
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX prediction_imports_project ON prediction_imports (project_id, started_at DESC);
CREATE INDEX prediction_imports_running ON prediction_imports (state) WHERE state = 'running';

-- The queue's order (geo_label/workflow/ordering.py): the default, or by a model's predictions.
ALTER TABLE projects
    ADD COLUMN queue_order varchar(16) NOT NULL DEFAULT 'default'
        CHECK (queue_order IN ('default', 'uncertain', 'most_objects')),
    ADD COLUMN queue_model_id uuid REFERENCES models(id),
    ADD COLUMN queue_threshold double precision NOT NULL DEFAULT 0.5 CHECK (queue_threshold BETWEEN 0 AND 1),
    ADD CONSTRAINT projects_queue_model CHECK (queue_order = 'default' OR queue_model_id IS NOT NULL);

GRANT SELECT, INSERT, UPDATE ON models, predictions, prediction_imports TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)
    for table in ("models", "predictions", "prediction_imports"):
        op.execute(POLICIES.format(table=table))


def downgrade() -> None:
    raise NotImplementedError("restore from a backup instead")
