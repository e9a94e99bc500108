"""Models registered with a project: a name and a version each; every prediction belongs to one version.

A model carries its project's marking, so who may see a project sees its models and nobody else (a model's
name may say what a program looks for). Managers register them; every member lists them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import MODELS
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, brief
from geo_label.markings import marking_columns, marking_of
from geo_label.projects import MEMBER_ROLES, get_project, require_project_role

#: Names and versions: letters, digits and ``. _ + -``, at most 100 characters (the migration's check).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
MANAGER_ROLES = ("manager",)


@dataclass(frozen=True)
class ModelRef:
    """``NAME@VERSION`` as the CLI and the API take it."""

    name: str
    version: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        name, at, version = text.partition("@")
        if not at or not NAME.fullmatch(name) or not NAME.fullmatch(version):
            raise InvalidInputError(f"a model is named NAME@VERSION (e.g. ships@1.2), not {brief(text)}")
        return cls(name, version)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def _check_name(value: str, what: str) -> str:
    if not NAME.fullmatch(value):
        raise InvalidInputError(
            f"a model {what} is 1 to 100 letters, digits and . _ + - (starting with a letter or digit), "
            f"not {brief(value)}"
        )
    return value


def add_model(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    *,
    name: str,
    version: str,
    description: str = "",
) -> Any:
    """Register ``name@version`` with the project (a manager's act, audited)."""
    project = get_project(session, caller, project_id)
    require_project_role(caller, project_id, *MANAGER_ROLES)
    values = {
        "project_id": project_id,
        "name": _check_name(name, "name"),
        "version": _check_name(version, "version"),
        "description": description.strip()[:2000],
        "created_by": caller.user_id,
        **marking_columns(marking_of(project)),
    }
    try:
        with session.begin_nested():
            row = session.execute(insert(MODELS).values(**values).returning(MODELS)).mappings().one()
    except IntegrityError:
        raise ConflictError(f"model {name}@{version} is already registered with this project") from None
    audit.record(
        session,
        caller,
        "model.add",
        item_type="model",
        item_id=row["id"],
        project_id=project_id,
        marking=marking_of(project),
        details={"name": name, "version": version},
    )
    return row


def list_models(session: Session, caller: Caller, project_id: uuid.UUID) -> list[Any]:
    get_project(session, caller, project_id)
    require_project_role(caller, project_id, *MEMBER_ROLES)
    query = (
        select(MODELS)
        .where(MODELS.c.project_id == project_id, readable(MODELS, caller))
        .order_by(MODELS.c.name, MODELS.c.created_at, MODELS.c.version)
    )
    return list(session.execute(query).mappings())


def find_model(session: Session, caller: Caller, project_id: uuid.UUID, ref: ModelRef | str) -> Any:
    """A readable model of the project by ``NAME@VERSION`` or by id (404 alike when hidden or missing)."""
    query = select(MODELS).where(MODELS.c.project_id == project_id, readable(MODELS, caller))
    if isinstance(ref, str):
        try:
            query = query.where(MODELS.c.id == uuid.UUID(ref))
        except ValueError:
            ref = ModelRef.parse(ref)
    if isinstance(ref, ModelRef):
        query = query.where(MODELS.c.name == ref.name, MODELS.c.version == ref.version)
    row = session.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError("model")
    return row
