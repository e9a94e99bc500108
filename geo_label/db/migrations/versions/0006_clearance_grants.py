"""Clearance grants that wait for a second security officer (two-person rule).

A change that widens an account's access (a higher level, an SCI access, CUI approval, a later expiry, a
citizenship that reads more, a system role) made through the API is proposed by one security officer and
applied only when another approves it. The proposal keeps the whole requested clearance, who proposed it
and why, and who decided. Lowering access is never delayed and does not come here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SERVICE_ROLE = "geo_label_app"

CLEARANCE_GRANTS = f"""
CREATE TABLE clearance_grants (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    clearance smallint NOT NULL CHECK (clearance BETWEEN 0 AND 3),
    sci_accesses text[] NOT NULL DEFAULT '{{}}',
    citizenship varchar(3) NOT NULL,
    cui_ok boolean NOT NULL,
    clearance_expires timestamptz,
    roles text[] NOT NULL DEFAULT '{{}}',
    justification text NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'approved', 'denied', 'superseded')),
    proposed_by uuid REFERENCES users(id),
    proposed_at timestamptz NOT NULL DEFAULT now(),
    decided_by uuid REFERENCES users(id),
    decided_at timestamptz,
    decision_comment text
);
CREATE INDEX clearance_grants_pending ON clearance_grants (user_id) WHERE state = 'pending';
GRANT SELECT, INSERT, UPDATE ON clearance_grants TO {SERVICE_ROLE};
"""


def upgrade() -> None:
    op.execute(CLEARANCE_GRANTS)


def downgrade() -> None:
    raise NotImplementedError("restore from a backup instead")
