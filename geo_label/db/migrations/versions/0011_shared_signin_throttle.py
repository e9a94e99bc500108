"""Sign-in throttling shared by every GeoLabel process over this database (issue 21).

The delays a failing source must wait and the counts that keep a flood of failures out of the audit one by
one lived in the memory of the one process that served. Several processes (``serve --workers``) and several
hosts behind one proxy must see the same counts, or a source would get each process's free failures. One row
per source (and per source and account name). UNLOGGED: a crash of the server forgets the delays, as a
restart of the service did, and no write-ahead log is spent on them; lock-outs stay in ``users``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

THROTTLE = f"""
CREATE UNLOGGED TABLE signin_throttle (
    key text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    last_failure timestamptz,
    interval_start timestamptz,
    recorded integer NOT NULL DEFAULT 0,
    suppressed integer NOT NULL DEFAULT 0,
    suppressed_names text[] NOT NULL DEFAULT '{{}}'
);
CREATE INDEX signin_throttle_last_failure ON signin_throttle (last_failure);
GRANT SELECT, INSERT, UPDATE, DELETE ON signin_throttle TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(THROTTLE)


def downgrade() -> None:
    op.execute("DROP TABLE signin_throttle")
