"""Row-level security the planner can estimate, part two (issue 21): the foreign-release rule.

Migration 0001 wrote rule 4 as ``citizenship = 'USA' OR (...)``. The first term has no column, so the planner
gives it the default selectivity of an equality (0.5%) whatever the caller, and with it the whole rule: at a
million annotations it expected 3% of the rows to pass where all of them did (the reader is a US citizen),
and a bbox page over a tenth of a project sorted 50,000 rows by bitmap scan instead of walking the
``(project_id, created_at, id)`` index to the first hundred (644 ms). As a ``CASE`` on the caller's
citizenship the planner takes the rule as a boolean of unknown value (50%), and ``rel = '{}'`` uses the
column's statistics where ``cardinality(rel) = 0`` could not. The rule is the same (the differential test,
tests/db/test_db_rls_differential.py, holds it to the service filter and ``access_control.can_read``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ESTIMABLE = """
CREATE OR REPLACE FUNCTION geo_label_can_read_marking(cls smallint, sci text[], dissem text[], rel text[])
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT cls <= geo_label_ctx('clearance')::smallint
       AND sci <@ geo_label_ctx_list('sci')
       AND (NOT dissem && '{CUI,FOUO}'::text[] OR geo_label_ctx('cui_ok')::boolean)
       AND CASE WHEN geo_label_ctx('citizenship') = 'USA' THEN true
                ELSE NOT 'NOFORN' = ANY (dissem)
                     AND (cls = 0 OR 'REL' = ANY (dissem))
                     AND (rel = '{}'::text[] OR geo_label_ctx('citizenship') = ANY (rel)) END
$$;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION geo_label_can_read_marking(cls smallint, sci text[], dissem text[], rel text[])
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT cls <= geo_label_ctx('clearance')::smallint
       AND sci <@ geo_label_ctx_list('sci')
       AND (NOT dissem && '{CUI,FOUO}'::text[] OR geo_label_ctx('cui_ok')::boolean)
       AND (geo_label_ctx('citizenship') = 'USA'
            OR (NOT 'NOFORN' = ANY (dissem)
                AND (cls = 0 OR 'REL' = ANY (dissem))
                AND (cardinality(rel) = 0 OR geo_label_ctx('citizenship') = ANY (rel))))
$$;
"""


def upgrade() -> None:
    op.execute(ESTIMABLE)


def downgrade() -> None:
    op.execute(PREVIOUS)
