"""No silent lock-out (issue 15): a deactivation keeps when, by which role and why, which the person is told
when they sign in with their password (and only then: without it, a deactivated account answers like an
unknown one).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE users ADD COLUMN deactivated_at timestamptz, ADD COLUMN deactivated_by_role text, "
        "ADD COLUMN deactivation_reason text"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE users DROP COLUMN deactivated_at, DROP COLUMN deactivated_by_role, "
        "DROP COLUMN deactivation_reason"
    )
