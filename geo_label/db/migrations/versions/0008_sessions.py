"""Server-side sessions, and what sign-in needs to keep account lock-outs fair.

* ``sessions``: one per sign-in. Access tokens are short and name their session; the session ends on
  sign-out, after its idle limit without user input, at its absolute end, or when a password change, reset,
  deactivation or an officer ends it. ``end_reason`` keeps how it ended.
* ``users.must_change_password``: set by an administrator's reset; the next sign-in must change it.
* ``users.last_failed_login_at``: failures count towards a lock-out only within a window (3 within 15
  minutes, as the application STIG asks), not forever.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

SESSIONS = f"""
CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    started_at timestamptz NOT NULL,
    last_activity_at timestamptz NOT NULL,
    idle_seconds integer NOT NULL CHECK (idle_seconds > 0),
    ends_at timestamptz NOT NULL,
    ended_at timestamptz,
    end_reason varchar(32),
    source varchar(64)
);
CREATE INDEX sessions_open ON sessions (user_id) WHERE ended_at IS NULL;
GRANT SELECT, INSERT, UPDATE ON sessions TO {SERVICE_ROLE};

ALTER TABLE users
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN last_failed_login_at timestamptz;
"""


def upgrade() -> None:
    op.execute(SESSIONS)


def downgrade() -> None:
    raise NotImplementedError("restore from a backup instead")
