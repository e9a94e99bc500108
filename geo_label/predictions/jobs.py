"""Prediction imports that run while the requester waits elsewhere: their state, progress and report.

An upload through the API is spooled to the data volume, answered at once with its import's id, and
imported in the background in one transaction of its own; the import's row says how far it got (records
read, written in short transactions of their own, so they are visible while the import runs), and then its
report or why it failed. The row turns ``done`` in the import's own transaction, so a reader sees ``done``
exactly when the predictions are there. An import cut short by a stop of the service is marked ``failed``
when a service starts again (its transaction never committed: nothing of it is there). Every process and
host serving from the database may start and import: an import holds an advisory lock of its own for its
whole transaction, so a service starting elsewhere tells a running import (locked) from an interrupted one
(no holder), and imports take turns over all of them.

Only the requester and the project's managers see an import; its marking is the project's.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Text, cast, func, insert, select, text, update
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import PREDICTION_IMPORTS
from geo_label.errors import NotFoundError
from geo_label.markings import marking_columns, marking_of
from geo_label.predictions.importing import IMPORTER_ROLES, ImportReport
from geo_label.predictions.registry import find_model
from geo_label.projects import get_project, require_project_role

INTERRUPTED = "the service stopped during the import; nothing of it was imported"

#: Advisory lock classes (``pg_advisory_xact_lock(class, key)``): each running import's own lock (its key is
#: a hash of its id), and the one turn imports take one at a time.
RUNNING_IMPORT_LOCK = 0x474C_0001
IMPORT_TURN_LOCK = 0x474C_0002


def hold_import(session: Session, job_id: uuid.UUID) -> bool:
    """Taken first in the import's transaction: marks the import as running (see :func:`abandon_running`),
    then waits for its turn. False when the import was meanwhile marked failed (a service starting
    elsewhere found it before its lock was taken): it must not run."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:lock, hashtext(:job))"),
        {"lock": RUNNING_IMPORT_LOCK, "job": str(job_id)},
    )
    session.execute(text("SELECT pg_advisory_xact_lock(:lock, 0)"), {"lock": IMPORT_TURN_LOCK})
    state = session.execute(
        select(PREDICTION_IMPORTS.c.state).where(PREDICTION_IMPORTS.c.id == job_id)
    ).scalar_one_or_none()
    return state == "running"


def start_import(
    session: Session,
    caller: Caller,
    *,
    project_id: uuid.UUID,
    model: str,
    file_name: str,
    file_bytes: int,
    options: dict[str, Any],
) -> Any:
    """The import's row, ``running``; the caller must be allowed to import into the project."""
    project = get_project(session, caller, project_id)
    require_project_role(caller, project_id, *IMPORTER_ROLES)
    model_row = find_model(session, caller, project_id, model)
    values = {
        "id": uuid.uuid4(),
        "project_id": project_id,
        "model_id": model_row["id"],
        "requested_by": caller.user_id,
        "file_name": file_name[:255],
        "file_bytes": file_bytes,
        "options": options,
        **marking_columns(marking_of(project)),
    }
    return (
        session.execute(insert(PREDICTION_IMPORTS).values(**values).returning(PREDICTION_IMPORTS))
        .mappings()
        .one()
    )


def record_progress(session: Session, job_id: uuid.UUID, records: int) -> None:
    session.execute(
        update(PREDICTION_IMPORTS)
        .where(PREDICTION_IMPORTS.c.id == job_id, PREDICTION_IMPORTS.c.state == "running")
        .values(records=records, updated_at=func.now())
    )


def finish_import(session: Session, job_id: uuid.UUID, report: ImportReport) -> None:
    """In the import's own transaction: ``done`` becomes visible with the predictions."""
    session.execute(
        update(PREDICTION_IMPORTS)
        .where(PREDICTION_IMPORTS.c.id == job_id)
        .values(
            state="done",
            records=report.records,
            report=report.as_dict(),
            updated_at=func.now(),
            finished_at=func.now(),
        )
    )


def fail_import(session: Session, job_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(PREDICTION_IMPORTS)
        .where(PREDICTION_IMPORTS.c.id == job_id, PREDICTION_IMPORTS.c.state == "running")
        .values(state="failed", error=reason, updated_at=func.now(), finished_at=func.now())
    )


def abandon_running(session: Session) -> int:
    """At service start (as the operator): imports left ``running`` by a stop are ``failed``; those another
    process is running (it holds their lock) are left alone."""
    unheld = func.pg_try_advisory_xact_lock(
        RUNNING_IMPORT_LOCK, func.hashtext(cast(PREDICTION_IMPORTS.c.id, Text))
    )
    result = session.execute(
        update(PREDICTION_IMPORTS)
        .where(PREDICTION_IMPORTS.c.state == "running", unheld)
        .values(state="failed", error=INTERRUPTED, updated_at=func.now(), finished_at=func.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _visible(caller: Caller, project_id: uuid.UUID) -> Any:
    query = select(PREDICTION_IMPORTS).where(
        PREDICTION_IMPORTS.c.project_id == project_id, readable(PREDICTION_IMPORTS, caller)
    )
    if caller.role_in(project_id) != "manager" and "system" not in caller.roles:
        query = query.where(PREDICTION_IMPORTS.c.requested_by == caller.user_id)
    return query


def get_import(session: Session, caller: Caller, project_id: uuid.UUID, job_id: uuid.UUID) -> Any:
    get_project(session, caller, project_id)
    row = session.execute(_visible(caller, project_id).where(PREDICTION_IMPORTS.c.id == job_id)).mappings()
    found = row.one_or_none()
    if found is None:
        raise NotFoundError("import")
    return found


def list_imports(session: Session, caller: Caller, project_id: uuid.UUID, *, limit: int = 50) -> list[Any]:
    get_project(session, caller, project_id)
    query = _visible(caller, project_id).order_by(PREDICTION_IMPORTS.c.started_at.desc()).limit(limit)
    return list(session.execute(query).mappings())
