"""Release review (issue 15): an export for a partner nation is a request that a foreign-disclosure officer
other than the requester approves or denies; only an approved request is downloaded, by its requester, and
it holds exactly the features it was reviewed with (a snapshot).

``release_requests`` carries the request's banner as its marking, ``release_features`` each feature as
reviewed (its GeoJSON text, annotation id, version and marking). Row-level security: a request and its
features are read by whom may read their marking and is its requester, a foreign-disclosure officer or a
security officer; the service decides the rest (who approves, when a download may happen).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from alembic import op

revision = "0016"
down_revision = "0015"
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

READABLE = "geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to)"
CONCERNED = (
    "(requested_by::text = geo_label_ctx('user_id') OR geo_label_has_role('foreign_disclosure_officer') "
    "OR geo_label_has_role('security_officer'))"
)

TABLES = f"""
ALTER TABLE users ADD COLUMN is_foreign_disclosure_officer boolean NOT NULL DEFAULT false;

CREATE TABLE release_requests (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects(id),
    requested_by uuid NOT NULL REFERENCES users(id),
    requested_at timestamptz NOT NULL DEFAULT now(),
    recipient varchar(8) NOT NULL,
    format varchar(16) NOT NULL,
    statuses text[] NOT NULL DEFAULT '{{}}',
    merge_iou double precision,
    feature_count integer NOT NULL CHECK (feature_count >= 0),
    state varchar(16) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by uuid REFERENCES users(id),
    decided_at timestamptz,
    justification text,
    downloaded_at timestamptz,
    download_sha256 varchar(64),
    CHECK (state = 'pending' OR (decided_by IS NOT NULL AND decided_by <> requested_by
                                 AND length(justification) > 0)),
    {MARKING_COLUMNS}
);
CREATE INDEX release_requests_state ON release_requests (state, requested_at);

CREATE TABLE release_features (
    request_id uuid NOT NULL REFERENCES release_requests(id),
    seq integer NOT NULL,
    annotation_id uuid NOT NULL,
    version integer NOT NULL,
    feature text NOT NULL,
    {MARKING_COLUMNS},
    PRIMARY KEY (request_id, seq)
);

ALTER TABLE release_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE release_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY release_requests_read ON release_requests FOR SELECT USING ({READABLE} AND {CONCERNED});
CREATE POLICY release_requests_insert ON release_requests FOR INSERT
    WITH CHECK ({READABLE} AND requested_by::text = geo_label_ctx('user_id')
                AND geo_label_member_of(project_id));
CREATE POLICY release_requests_update ON release_requests FOR UPDATE
    USING ({READABLE} AND {CONCERNED}) WITH CHECK ({READABLE} AND {CONCERNED});

ALTER TABLE release_features ENABLE ROW LEVEL SECURITY;
ALTER TABLE release_features FORCE ROW LEVEL SECURITY;
CREATE POLICY release_features_read ON release_features FOR SELECT
    USING ({READABLE} AND EXISTS (SELECT 1 FROM release_requests r WHERE r.id = request_id));
CREATE POLICY release_features_insert ON release_features FOR INSERT
    WITH CHECK ({READABLE} AND EXISTS (SELECT 1 FROM release_requests r WHERE r.id = request_id
                                       AND r.state = 'pending'));

REVOKE ALL ON release_requests, release_features FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON release_requests TO {SERVICE_ROLE};
GRANT SELECT, INSERT ON release_features TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE release_features")
    op.execute("DROP TABLE release_requests")
    op.execute("ALTER TABLE users DROP COLUMN is_foreign_disclosure_officer")
