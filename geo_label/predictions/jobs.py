"""Prediction imports that run while the requester waits elsewhere: their state, progress and report.

An upload through the API is spooled to the data volume, answered at once with its import's id, and
imported in the background in one transaction of its own; the import's row says how far it got (records
read, written in short transactions of their own, so they are visible while the import runs), and then its
report or why it failed. The row turns ``done`` in the import's own transaction, so a reader sees ``done``
exactly when the predictions are there. An import cut short by a stop of the service is marked ``failed``
when the service starts again (its transaction never committed: nothing of it is there).

Only the requester and the project's managers see an import; its marking is the project's.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
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
    """At service start (as the operator): imports left ``running`` by a stop are ``failed``."""
    result = session.execute(
        update(PREDICTION_IMPORTS)
        .where(PREDICTION_IMPORTS.c.state == "running")
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
