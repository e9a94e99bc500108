"""Storage: PostgreSQL + PostGIS through SQLAlchemy, the embedded private cluster, caller context for RLS."""
