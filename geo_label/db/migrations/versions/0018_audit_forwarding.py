"""Audit records leave the box (issue 15): where forwarding to a log collector stands.

Each forwarding target (a syslog socket, a file) has the id of the last audit record it has been sent; the
forwarder sends the records after it in order and moves it only once they were taken, so a target that was
down gets every record when it is back (at least once: a record may be sent twice after a crash, never lost).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

TABLES = f"""
CREATE TABLE audit_forwarding (
    target text PRIMARY KEY,
    last_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON audit_forwarding FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON audit_forwarding TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE audit_forwarding")
