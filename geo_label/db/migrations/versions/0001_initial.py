"""Initial schema: users, projects, memberships, images, chips, annotations with history, audit log;
row-level security on every marked table; the service role; the audit hash chain.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

#: Tables holding marked content: each gets ENABLE + FORCE row-level security.
MARKED_TABLES = ("projects", "images", "chips", "annotations", "annotation_versions", "audit_log")

MARKING_COLUMNS = """
    classification smallint NOT NULL CHECK (classification BETWEEN 0 AND 3),
    sci_controls text[] NOT NULL DEFAULT '{}',
    dissemination text[] NOT NULL DEFAULT '{}',
    rel_to text[] NOT NULL DEFAULT '{}',
    derived_from text[] NOT NULL DEFAULT '{}',
    marked_by uuid,
    marked_at timestamptz NOT NULL DEFAULT now()
"""

TABLES = f"""
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username varchar(64) NOT NULL UNIQUE,
    password_hash text,
    oidc_subject text UNIQUE,
    clearance smallint NOT NULL CHECK (clearance BETWEEN 0 AND 3),
    sci_accesses text[] NOT NULL DEFAULT '{{}}',
    citizenship varchar(3) NOT NULL,
    cui_ok boolean NOT NULL DEFAULT false,
    clearance_expires timestamptz,
    is_admin boolean NOT NULL DEFAULT false,
    is_security_officer boolean NOT NULL DEFAULT false,
    active boolean NOT NULL DEFAULT true,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(200) NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    label_schema jsonb NOT NULL,
    review_required boolean NOT NULL DEFAULT true,
    created_by uuid REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS}
);

CREATE TABLE memberships (
    project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role varchar(16) NOT NULL CHECK (role IN ('labeler', 'reviewer', 'manager')),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE images (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects(id),
    sha256 varchar(64) NOT NULL,
    name text NOT NULL,
    source_path text NOT NULL,
    chips_dir text NOT NULL,
    driver varchar(32) NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    band_count integer NOT NULL,
    dtype varchar(16) NOT NULL,
    crs_wkt text NOT NULL,
    transform double precision[] NOT NULL,
    footprint geometry(Geometry, 4326) NOT NULL,
    gsd_m double precision NOT NULL,
    acquired_at timestamptz,
    sensor text,
    chip_size integer NOT NULL,
    chip_overlap integer NOT NULL,
    ingested_by uuid REFERENCES users(id),
    ingested_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS},
    UNIQUE (project_id, sha256)
);
CREATE INDEX images_footprint ON images USING gist (footprint);

CREATE TABLE chips (
    id uuid PRIMARY KEY,
    image_id uuid NOT NULL REFERENCES images(id),
    project_id uuid NOT NULL REFERENCES projects(id),
    row_off integer NOT NULL,
    col_off integer NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    path text NOT NULL,
    preview_path text NOT NULL,
    valid_fraction double precision NOT NULL,
    footprint geometry(Geometry, 4326) NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'open',
    {MARKING_COLUMNS}
);
CREATE INDEX chips_footprint ON chips USING gist (footprint);
CREATE INDEX chips_image ON chips (image_id, row_off, col_off);
CREATE INDEX chips_project ON chips (project_id);

CREATE TABLE annotations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects(id),
    image_id uuid NOT NULL REFERENCES images(id),
    chip_id uuid NOT NULL REFERENCES chips(id),
    label_class varchar(100) NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{{}}',
    geometry geometry(Geometry, 4326) NOT NULL,
    source varchar(16) NOT NULL DEFAULT 'human' CHECK (source IN ('human', 'model')),
    confidence double precision CHECK (confidence BETWEEN 0 AND 1),
    status varchar(16) NOT NULL DEFAULT 'draft',
    version integer NOT NULL DEFAULT 1,
    created_by uuid NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_by uuid NOT NULL REFERENCES users(id),
    updated_at timestamptz NOT NULL DEFAULT now(),
    reviewed_by uuid REFERENCES users(id),
    {MARKING_COLUMNS}
);
CREATE INDEX annotations_geometry ON annotations USING gist (geometry);
CREATE INDEX annotations_chip ON annotations (chip_id);
CREATE INDEX annotations_project ON annotations (project_id, created_at, id);

CREATE TABLE annotation_versions (
    annotation_id uuid NOT NULL,
    version integer NOT NULL,
    project_id uuid NOT NULL,
    chip_id uuid NOT NULL,
    label_class varchar(100) NOT NULL,
    attributes jsonb NOT NULL,
    geometry geometry(Geometry, 4326),
    status varchar(16) NOT NULL,
    operation varchar(8) NOT NULL,
    changed_by uuid,
    changed_at timestamptz NOT NULL DEFAULT now(),
    {MARKING_COLUMNS},
    PRIMARY KEY (annotation_id, version)
);

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id uuid,
    actor_name text,
    action varchar(64) NOT NULL,
    item_type varchar(32),
    item_id text,
    project_id uuid,
    classification smallint NOT NULL DEFAULT 0,
    sci_controls text[] NOT NULL DEFAULT '{{}}',
    dissemination text[] NOT NULL DEFAULT '{{}}',
    rel_to text[] NOT NULL DEFAULT '{{}}',
    details jsonb NOT NULL DEFAULT '{{}}',
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);

CREATE TABLE audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id bigint NOT NULL,
    last_hash bytea NOT NULL
);
INSERT INTO audit_chain_head VALUES (true, 0, '\\x'::bytea);
"""

# The caller's attributes come only from per-transaction settings (set_config(..., true)) made by the service
# for each request. A setting never made in this session raises; one made by an earlier transaction reads as
# '' and is turned into an error too: a missing context is an error, never a default.
CONTEXT_FUNCTIONS = """
CREATE FUNCTION geo_label_missing_context(name text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'geo_label caller context % is not set in this transaction', name
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION geo_label_ctx(name text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('geo_label.' || name, true), ''), geo_label_missing_context(name))
$$;

CREATE FUNCTION geo_label_ctx_list(name text) RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT CASE geo_label_ctx(name) WHEN '-' THEN '{}'::text[]
           ELSE string_to_array(geo_label_ctx(name), ',') END
$$;

-- MARKINGS.md section 3, rules 1-4 (level, SCI, CUI/FOUO, foreign release). The service applies the same
-- rules in Python (access_control.can_read) and as a SQL filter (geo_label.db.access); a test compares them.
CREATE FUNCTION geo_label_can_read_marking(cls smallint, sci text[], dissem text[], rel text[])
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT cls <= geo_label_ctx('clearance')::smallint
       AND sci <@ geo_label_ctx_list('sci')
       AND (NOT dissem && '{CUI,FOUO}'::text[] OR geo_label_ctx('cui_ok')::boolean)
       AND (geo_label_ctx('citizenship') = 'USA'
            OR (NOT 'NOFORN' = ANY (dissem)
                AND (cls = 0 OR 'REL' = ANY (dissem))
                AND (cardinality(rel) = 0 OR geo_label_ctx('citizenship') = ANY (rel))))
$$;

-- Rule 5: need-to-know, by project membership.
CREATE FUNCTION geo_label_member_of(project uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT project::text = ANY (geo_label_ctx_list('projects'))
$$;

CREATE FUNCTION geo_label_has_role(role text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT role = ANY (geo_label_ctx_list('roles'))
$$;
"""

HISTORY = """
CREATE FUNCTION geo_label_annotation_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO annotation_versions (annotation_id, version, project_id, chip_id, label_class, attributes,
            geometry, status, operation, changed_by, classification, sci_controls, dissemination, rel_to,
            derived_from, marked_by, marked_at)
        VALUES (OLD.id, OLD.version + 1, OLD.project_id, OLD.chip_id, OLD.label_class, OLD.attributes,
            OLD.geometry, 'deleted', 'delete', NULLIF(geo_label_ctx('user_id'), '-')::uuid,
            OLD.classification, OLD.sci_controls, OLD.dissemination, OLD.rel_to, OLD.derived_from,
            OLD.marked_by, OLD.marked_at);
        RETURN OLD;
    END IF;
    INSERT INTO annotation_versions (annotation_id, version, project_id, chip_id, label_class, attributes,
        geometry, status, operation, changed_by, classification, sci_controls, dissemination, rel_to,
        derived_from, marked_by, marked_at)
    VALUES (NEW.id, NEW.version, NEW.project_id, NEW.chip_id, NEW.label_class, NEW.attributes, NEW.geometry,
        NEW.status, lower(TG_OP), NEW.updated_by, NEW.classification, NEW.sci_controls, NEW.dissemination,
        NEW.rel_to, NEW.derived_from, NEW.marked_by, NEW.marked_at);
    RETURN NEW;
END $$;

CREATE TRIGGER annotations_history AFTER INSERT OR UPDATE OR DELETE ON annotations
    FOR EACH ROW EXECUTE FUNCTION geo_label_annotation_history();
"""

# The audit chain: each record's hash covers the previous record's hash and the record's own fields, so an
# edited, removed or reordered record breaks every hash after it. The trigger runs as the schema owner
# (SECURITY DEFINER) because the service role may neither read the chain head nor touch stored records.
AUDIT = """
CREATE FUNCTION geo_label_audit_payload(r audit_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws(E'\\x1f', r.id::text,
        to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(r.actor_id::text, ''), coalesce(r.actor_name, ''), r.action, coalesce(r.item_type, ''),
        coalesce(r.item_id, ''), coalesce(r.project_id::text, ''), r.classification::text,
        array_to_string(r.sci_controls, ','), array_to_string(r.dissemination, ','),
        array_to_string(r.rel_to, ','), r.details::text), 'UTF8')
$$;

CREATE FUNCTION geo_label_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    head audit_chain_head;
BEGIN
    SELECT * INTO head FROM audit_chain_head FOR UPDATE;
    NEW.at := clock_timestamp();
    NEW.prev_hash := head.last_hash;
    NEW.hash := sha256(head.last_hash || geo_label_audit_payload(NEW));
    UPDATE audit_chain_head SET last_id = NEW.id, last_hash = NEW.hash;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION geo_label_audit_chain();

-- Returns the records whose hash or link is wrong (empty when the chain is intact), and the head's check.
CREATE FUNCTION geo_label_audit_verify() RETURNS TABLE (record_id bigint, problem text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH ordered AS (
        SELECT a.id, a.prev_hash, a.hash, sha256(a.prev_hash || geo_label_audit_payload(a)) AS recomputed,
               lag(a.hash) OVER (ORDER BY a.id) AS expected_prev
        FROM audit_log a
    )
    SELECT id, 'hash does not match the record' FROM ordered WHERE hash <> recomputed
    UNION ALL
    SELECT id, 'not linked to the previous record' FROM ordered
        WHERE prev_hash <> coalesce(expected_prev, '\\x'::bytea)
    UNION ALL
    SELECT h.last_id, 'the last record is missing' FROM audit_chain_head h
        WHERE h.last_hash <> coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), '\\x'::bytea)
    ORDER BY 1
$$;
"""

POLICIES = """
CREATE POLICY projects_read ON projects FOR SELECT
    USING (geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to)
           AND (geo_label_member_of(id) OR geo_label_has_role('admin')));
CREATE POLICY projects_write ON projects FOR INSERT
    WITH CHECK (geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY projects_update ON projects FOR UPDATE
    USING (geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to)
           AND (geo_label_member_of(id) OR geo_label_has_role('admin')))
    WITH CHECK (geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

CONTENT_POLICIES_TEMPLATE = """
CREATE POLICY {table}_read ON {table} FOR SELECT
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY {table}_insert ON {table} FOR INSERT
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

CONTENT_UPDATE_TEMPLATE = """
CREATE POLICY {table}_update ON {table} FOR UPDATE
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to))
    WITH CHECK (geo_label_member_of(project_id)
                AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY {table}_delete ON {table} FOR DELETE
    USING (geo_label_member_of(project_id)
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
"""

AUDIT_POLICIES = """
CREATE POLICY audit_log_read ON audit_log FOR SELECT
    USING (geo_label_has_role('security_officer')
           AND geo_label_can_read_marking(classification, sci_controls, dissemination, rel_to));
CREATE POLICY audit_log_insert ON audit_log FOR INSERT WITH CHECK (true);
-- The schema owner (who runs migrations and `geo-label audit verify`) reads the whole chain to verify it.
CREATE POLICY audit_log_owner_verify ON audit_log FOR SELECT TO CURRENT_USER USING (true);
"""


def service_role_and_grants() -> str:
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN
        CREATE ROLE {SERVICE_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {SERVICE_ROLE};
GRANT USAGE ON SCHEMA public TO {SERVICE_ROLE};
GRANT SELECT, INSERT, UPDATE ON users, projects, images, chips TO {SERVICE_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships, annotations TO {SERVICE_ROLE};
GRANT SELECT, INSERT ON annotation_versions TO {SERVICE_ROLE};
GRANT SELECT, INSERT ON audit_log TO {SERVICE_ROLE};
GRANT USAGE ON SEQUENCE audit_log_id_seq TO {SERVICE_ROLE};
GRANT SELECT ON spatial_ref_sys TO {SERVICE_ROLE};
REVOKE ALL ON audit_chain_head FROM PUBLIC;
REVOKE ALL ON FUNCTION geo_label_audit_verify() FROM PUBLIC;
-- Verification returns only record ids and problems, never content; the API lets security officers run it.
GRANT EXECUTE ON FUNCTION geo_label_audit_verify() TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(CONTEXT_FUNCTIONS)
    op.execute(HISTORY)
    op.execute(AUDIT)
    for table in MARKED_TABLES:
        op.execute(
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
        )
    op.execute(POLICIES)
    for table in ("images", "chips", "annotations", "annotation_versions"):
        op.execute(CONTENT_POLICIES_TEMPLATE.format(table=table))
    for table in ("images", "chips", "annotations"):
        op.execute(CONTENT_UPDATE_TEMPLATE.format(table=table))
    op.execute(AUDIT_POLICIES)
    op.execute(service_role_and_grants())


def downgrade() -> None:
    raise NotImplementedError("the initial schema is not downgraded; restore from a backup instead")
