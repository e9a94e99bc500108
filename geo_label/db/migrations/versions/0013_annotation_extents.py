"""Collection extents kept per project and marking (issue 21).

An OGC collection's extent is the box and time span of the annotations its reader may read. Computing it
read every readable annotation (a second at a million); ``annotation_extents`` keeps, per project and
marking, the box of every annotation written with that marking and the earliest ``updated_at`` seen, so a
reader's extent is the union of the rows of the markings they may read: a handful of rows, and nothing
they may not read (the table has the same row-level security as ``annotations``).

The rows only grow: a deleted or moved annotation leaves its old box behind (an extent may be larger than
the features, never smaller). The time span is open at its end (``null``: the collection is being labeled),
so a write touches a row only when its box grows beyond the row's or its marking is new: a statement-level
trigger compares first, without a lock, and upserts only what grows, so writers of one marking do not queue
on one row.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"
KEY = "project_id, classification, sci_controls, dissemination, rel_to"

EXTENTS = f"""
CREATE TABLE annotation_extents (
    project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    classification smallint NOT NULL,
    sci_controls text[] NOT NULL,
    dissemination text[] NOT NULL,
    rel_to text[] NOT NULL,
    west double precision NOT NULL,
    south double precision NOT NULL,
    east double precision NOT NULL,
    north double precision NOT NULL,
    first_at timestamptz NOT NULL,
    PRIMARY KEY ({KEY})
);
GRANT SELECT, INSERT, UPDATE ON annotation_extents TO {SERVICE_ROLE};
ALTER TABLE annotation_extents ENABLE ROW LEVEL SECURITY;
ALTER TABLE annotation_extents FORCE ROW LEVEL SECURITY;
CREATE POLICY annotation_extents_read ON annotation_extents FOR SELECT
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY annotation_extents_insert ON annotation_extents FOR INSERT
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY annotation_extents_update ON annotation_extents FOR UPDATE
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to))
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));

-- Runs as the writer (row-level security applies: a writer may write only markings it may read, and so
-- the extents of those). What the statement wrote, grouped by project and marking; only the groups that
-- reach beyond their row (or have none) are upserted.
CREATE FUNCTION geo_label_grow_extents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH written AS (
        SELECT {KEY},
               min(ST_XMin(geometry)) AS west, min(ST_YMin(geometry)) AS south,
               max(ST_XMax(geometry)) AS east, max(ST_YMax(geometry)) AS north,
               min(updated_at) AS first_at
        FROM written_rows
        WHERE geometry IS NOT NULL
        GROUP BY {KEY}
    )
    INSERT INTO annotation_extents AS e ({KEY}, west, south, east, north, first_at)
    SELECT w.* FROM written w
    WHERE NOT EXISTS (
        SELECT 1 FROM annotation_extents k
        WHERE (k.project_id, k.classification, k.sci_controls, k.dissemination, k.rel_to)
              = (w.project_id, w.classification, w.sci_controls, w.dissemination, w.rel_to)
          AND k.west <= w.west AND k.south <= w.south AND k.east >= w.east AND k.north >= w.north
          AND k.first_at <= w.first_at
    )
    ON CONFLICT ({KEY}) DO UPDATE SET
        west = least(e.west, EXCLUDED.west),
        south = least(e.south, EXCLUDED.south),
        east = greatest(e.east, EXCLUDED.east),
        north = greatest(e.north, EXCLUDED.north),
        first_at = least(e.first_at, EXCLUDED.first_at);
    RETURN NULL;
END $$;

CREATE TRIGGER annotations_extents_insert AFTER INSERT ON annotations
    REFERENCING NEW TABLE AS written_rows FOR EACH STATEMENT EXECUTE FUNCTION geo_label_grow_extents();
CREATE TRIGGER annotations_extents_update AFTER UPDATE ON annotations
    REFERENCING NEW TABLE AS written_rows FOR EACH STATEMENT EXECUTE FUNCTION geo_label_grow_extents();
"""

# As the owner, to whom row-level security applies only while it is forced: lifted for the one statement that
# reads every annotation, inside the migration's transaction.
BACKFILL = f"""
ALTER TABLE annotations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE annotation_extents NO FORCE ROW LEVEL SECURITY;
INSERT INTO annotation_extents ({KEY}, west, south, east, north, first_at)
SELECT {KEY}, min(ST_XMin(geometry)), min(ST_YMin(geometry)), max(ST_XMax(geometry)), max(ST_YMax(geometry)),
       min(updated_at)
FROM annotations WHERE geometry IS NOT NULL GROUP BY {KEY};
ALTER TABLE annotations FORCE ROW LEVEL SECURITY;
ALTER TABLE annotation_extents FORCE ROW LEVEL SECURITY;
"""


def upgrade() -> None:
    op.execute(EXTENTS)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER annotations_extents_insert ON annotations")
    op.execute("DROP TRIGGER annotations_extents_update ON annotations")
    op.execute("DROP FUNCTION geo_label_grow_extents()")
    op.execute("DROP TABLE annotation_extents")
