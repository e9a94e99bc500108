"""Sign-in with an X.509 client certificate (PKI smart cards, issue 15): an account is linked to the subject
of its holder's certificate (RFC 4514 form), at most one account per subject.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN certificate_subject text UNIQUE")


def downgrade() -> None:
    op.execute("ALTER TABLE users DROP COLUMN certificate_subject")
