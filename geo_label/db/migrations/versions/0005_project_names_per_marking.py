"""Project names are unique per marking, not across the whole database (polyinstantiation).

With one name for the whole database, an admin creating a project got "name taken" for a project they may not
read: the error told them that a project of that name exists above their access (MARKINGS.md: error messages
filter by access too). Unique per name and marking, a collision can only be with a project of the very same
marking, which an admin who may mark a project so may read anyway. Two projects of one name at different
markings are told apart by their ids (the CLI asks for one when a name is ambiguous to the caller).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE projects DROP CONSTRAINT projects_name_key")
    op.execute(
        "CREATE UNIQUE INDEX projects_name_marking ON projects "
        "(name, classification, sci_controls, dissemination, rel_to)"
    )


def downgrade() -> None:
    raise NotImplementedError("restore from a backup instead")
