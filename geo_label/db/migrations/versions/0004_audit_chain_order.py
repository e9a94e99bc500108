"""Number audit records in chain order.

The id came from the sequence default before the chaining trigger took its lock, so two concurrent writers
could chain in the opposite order to their ids; `geo-label audit verify`, which walks the records by id, then
reported an intact chain as broken. Drawing the id inside the trigger, after the lock, makes id order chain
order (a rolled-back record leaves a gap in the ids, which verification already tolerates).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

AUDIT_CHAIN = """
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
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(AUDIT_CHAIN)


def downgrade() -> None:
    raise NotImplementedError("restore from a backup instead")
