"""The audit chain keyed: every record sealed with a key the database does not hold.

The hash chain of 0001 is unkeyed: whoever owns the database can remove or edit a record and recompute every
hash after it, and the chain verifies. Now each record also gets a seal, HMAC-SHA256 over its id and chain
hash under the audit key, which lives with the service (a file under the data directory, or
GEO_LABEL_AUDIT_KEY) and never in the database. Rewriting history then means forging the seals of every
record after the change, which needs the key.

* The chaining trigger hands the new record's id and hash to the inserting transaction (``geo_label.
  audit_last``, a transaction-local setting); the service computes the seal and inserts it into
  ``audit_seals`` in the same transaction, so a record and its seal commit together or not at all.
* The service role may only INSERT seals: never read, change or remove them.
* ``geo_label_audit_seals()`` lists every record's id, hash and seal (no content), for verification.
* Records written before this migration are sealed by ``geo-label db upgrade``, which holds the key:
  ``audit_keying.keyed_from`` is the last of them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

SEALS = f"""
CREATE TABLE audit_seals (
    record_id bigint PRIMARY KEY,
    mac bytea NOT NULL
);
REVOKE ALL ON audit_seals FROM PUBLIC;
GRANT INSERT ON audit_seals TO {SERVICE_ROLE};

CREATE TABLE audit_keying (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    keyed_from bigint NOT NULL
);
INSERT INTO audit_keying SELECT true, coalesce(max(id), 0) FROM audit_log;
REVOKE ALL ON audit_keying FROM PUBLIC;

CREATE OR REPLACE FUNCTION geo_label_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    head audit_chain_head;
BEGIN
    SELECT * INTO head FROM audit_chain_head FOR UPDATE;
    NEW.id := nextval('audit_log_id_seq');
    NEW.at := clock_timestamp();
    NEW.prev_hash := head.last_hash;
    NEW.hash := sha256(head.last_hash || geo_label_audit_payload(NEW));
    UPDATE audit_chain_head SET last_id = NEW.id, last_hash = NEW.hash;
    PERFORM set_config('geo_label.audit_last', NEW.id::text || ':' || encode(NEW.hash, 'hex'), true);
    RETURN NEW;
END $$;

-- Every record's id and hash with its seal (NULL when it has none), and every seal whose record is gone
-- (id and hash NULL): ids, hashes and seals only, never content.
CREATE FUNCTION geo_label_audit_seals()
RETURNS TABLE (record_id bigint, hash bytea, mac bytea, sealed_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.hash, s.mac, s.record_id
    FROM audit_log a FULL JOIN audit_seals s ON s.record_id = a.id
    ORDER BY coalesce(a.id, s.record_id)
$$;
REVOKE ALL ON FUNCTION geo_label_audit_seals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION geo_label_audit_seals() TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(SEALS)


def downgrade() -> None:
    raise NotImplementedError("restore from a backup instead")
