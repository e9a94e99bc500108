"""Read-only access tokens for desktop and scripted clients (issue 22).

QGIS and GDAL as distributions ship them cannot send GeoLabel's bearer token; they send HTTP Basic. A user
makes a token for themself (or the operator for them), presents it as the Basic password with their user
name, and it is accepted on read-only requests only. Only a SHA-256 of the token is kept (it is 256 random
bits: no key stretching is needed to make guessing it hopeless, and every request checks it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

ACCESS_TOKENS = f"""
CREATE TABLE access_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    label varchar(100) NOT NULL CHECK (length(label) > 0),
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL,
    created_by uuid REFERENCES users(id),
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
    last_used_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid REFERENCES users(id)
);
CREATE INDEX access_tokens_user ON access_tokens (user_id, created_at);
REVOKE ALL ON access_tokens FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON access_tokens TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(ACCESS_TOKENS)


def downgrade() -> None:
    op.execute("DROP TABLE access_tokens")
