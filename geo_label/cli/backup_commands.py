"""`geo-label backup` and `geo-label restore`: the whole installation (embedded database and data directory)
in one tar file, and back (see :mod:`geo_label.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_label.backup import known_revisions, make_backup, restore_backup
from geo_label.cli.common import CliError, app
from geo_label.console import stdout
from geo_label.db.engine import upgrade_schema
from geo_label.db.runtime import owner_url
from geo_label.security.keys import load_or_create_audit_key
from geo_label.settings import Settings, load_settings

EXTERNAL = (
    "GEO_LABEL_DATABASE_URL is set: back up that database with your PostgreSQL tools (pg_dump as a role that "
    "bypasses row-level security) and the data directory with your file backup"
)


def embedded_settings() -> Settings:
    settings = load_settings()
    if settings.database_url:
        raise CliError(EXTERNAL)
    return settings


@app.command()
def backup(
    out: Annotated[Path, typer.Argument(help="The tar file to write (it must not exist).")],
) -> None:
    """Back up the database and the data directory's files (keys, chips, previews) into one tar file, mode
    0600, with a manifest; the service may keep running."""
    settings = embedded_settings()
    with owner_url(settings):  # the data directory checked, the embedded database up while we dump it
        summary = make_backup(settings.data_dir, out.absolute(), scratch=settings.spool_dir)
    stdout.print(
        f"backup {summary.path}: database at schema {summary.revision} and {summary.files - 2} files, "
        f"{summary.bytes / 1e6:.1f} MB",
        markup=False,
    )


@app.command()
def restore(
    backup_file: Annotated[Path, typer.Argument(metavar="BACKUP", help="A tar file written by backup.")],
) -> None:
    """Replace the database and the data directory's files with a backup's (checked against its manifest
    first; a restore that fails changes nothing); then migrate it to this version's schema. Stop the service
    first."""
    settings = embedded_settings()
    with owner_url(settings) as url:
        revision = restore_backup(
            settings.data_dir, backup_file, scratch=settings.spool_dir, known=known_revisions()
        )
        upgrade_schema(url, audit_key=load_or_create_audit_key(settings))
    stdout.print(f"restored {backup_file} (schema {revision}, migrated to this version's)", markup=False)
