"""Projects: a label schema, a marking floor for everything in them, and members with roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from access_control import Marking, can_read
from geo_label import audit
from geo_label.db.access import project_visible
from geo_label.db.context import Caller
from geo_label.db.models import MEMBERSHIPS, PROJECTS, Membership, User
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError, brief
from geo_label.markings import banner_of, marking_columns, marking_of
from geo_label.users import get_user, require

MEMBER_ROLES = ("labeler", "reviewer", "manager")
#: What an annotation's ``label_class`` column holds: a longer class name could never be used.
MAX_CLASS_NAME = 100
GEOMETRY_TYPES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
ATTRIBUTE_TYPES = ("string", "number", "integer", "boolean", "enum")


@dataclass(frozen=True)
class LabelClass:
    name: str
    geometry_types: tuple[str, ...] = GEOMETRY_TYPES
    attributes: tuple[dict[str, Any], ...] = ()


def label_schema(classes: list[LabelClass]) -> dict[str, Any]:
    """The stored label schema, validated: unique class names, known geometry and attribute types."""
    if not classes:
        raise InvalidInputError("a project needs at least one class")
    names = [c.name.strip() for c in classes]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise InvalidInputError("class names must be non-empty and unique")
    too_long = [n for n in names if len(n) > MAX_CLASS_NAME]
    if too_long:
        raise InvalidInputError(f"class name {brief(too_long[0])} is longer than {MAX_CLASS_NAME} characters")
    out = []
    for cls in classes:
        bad = [g for g in cls.geometry_types if g not in GEOMETRY_TYPES]
        if bad or not cls.geometry_types:
            raise InvalidInputError(
                f"class {brief(cls.name)}: geometry types must be among {', '.join(GEOMETRY_TYPES)}"
            )
        for attribute in cls.attributes:
            if attribute.get("type") not in ATTRIBUTE_TYPES or not attribute.get("name"):
                raise InvalidInputError(
                    f"class {brief(cls.name)}: each attribute needs a name and a type among "
                    + ", ".join(ATTRIBUTE_TYPES)
                )
            if attribute["type"] == "enum" and not attribute.get("values"):
                raise InvalidInputError(
                    f"class {brief(cls.name)}: enum attribute {brief(attribute['name'])} needs values"
                )
        out.append(
            {
                "name": cls.name.strip(),
                "geometry_types": list(cls.geometry_types),
                "attributes": [dict(a) for a in cls.attributes],
            }
        )
    return {"classes": out}


def create_project(
    session: Session,
    caller: Caller,
    *,
    name: str,
    marking: Marking,
    classes: list[LabelClass],
    description: str = "",
    review_required: bool = True,
) -> uuid.UUID:
    """Admins create projects, never above their own access (no write-up)."""
    require(caller, "admin")
    if not can_read(caller.access, marking):
        raise InvalidInputError(
            f"you cannot create a project marked {marking.banner()}: it is above your access"
        )
    if not name.strip():
        raise InvalidInputError("a project needs a name")
    project_id = uuid.uuid4()
    values = {
        "id": project_id,
        "name": name.strip(),
        "description": description,
        "label_schema": label_schema(classes),
        "review_required": review_required,
        "created_by": caller.user_id,
        "marked_by": caller.user_id,
        **marking_columns(marking),
    }
    try:
        with session.begin_nested():
            session.execute(insert(PROJECTS).values(**values))
    except IntegrityError:
        raise ConflictError("a project with that name and marking already exists") from None
    audit.record(
        session,
        caller,
        "project.create",
        item_type="project",
        item_id=project_id,
        project_id=project_id,
        marking=marking,
        details={"name": name},
    )
    return project_id


def visible_projects(caller: Caller) -> Select[Any]:
    return select(PROJECTS).where(project_visible(PROJECTS, caller))


def list_projects(session: Session, caller: Caller, *, limit: int, offset: int) -> tuple[list[Any], int]:
    query = visible_projects(caller)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(PROJECTS.c.name, PROJECTS.c.id).limit(limit).offset(offset)
    ).mappings()
    return list(rows), total


def my_projects(session: Session, caller: Caller) -> dict[str, str]:
    """The caller's memberships (project id -> role) in projects they may read now: a project whose marking
    the caller's clearance no longer reaches is as absent here as everywhere else."""
    member_ids = [uuid.UUID(p) for p in caller.project_roles]
    if not member_ids:
        return {}
    query = select(PROJECTS.c.id).where(PROJECTS.c.id.in_(member_ids), project_visible(PROJECTS, caller))
    visible = {str(project_id) for project_id in session.execute(query).scalars()}
    return {project: role for project, role in caller.project_roles.items() if project in visible}


def get_project(session: Session, caller: Caller, project_id: uuid.UUID) -> Any:
    row = (
        session.execute(visible_projects(caller).where(PROJECTS.c.id == project_id)).mappings().one_or_none()
    )
    if row is None:
        raise NotFoundError("project")
    return row


def find_project(session: Session, caller: Caller, name_or_id: str) -> Any:
    """A visible project by id or by name (the CLI takes names)."""
    try:
        return get_project(session, caller, uuid.UUID(name_or_id))
    except ValueError:
        pass
    rows = session.execute(visible_projects(caller).where(PROJECTS.c.name == name_or_id).limit(2)).mappings()
    found = list(rows)
    if not found:
        raise NotFoundError("project")
    if len(found) > 1:  # one name at several markings, each of which the caller may read
        raise InvalidInputError(
            f"more than one project you can see is named {brief(name_or_id)}: give its id"
        )
    return found[0]


def project_marking(project: Any) -> Marking:
    return marking_of(project)


def require_project_role(caller: Caller, project_id: uuid.UUID, *roles: str) -> None:
    if caller.role_in(project_id) in roles or "system" in caller.roles:
        return
    raise PermissionDeniedError(f"this needs the {' or '.join(roles)} role in the project")


def add_member(session: Session, caller: Caller, *, project_id: uuid.UUID, username: str, role: str) -> None:
    """Admins (or the project's managers) grant need-to-know. The member must be cleared for the project's
    marking floor: membership of a project one cannot read would be meaningless."""
    project = get_project(session, caller, project_id)
    if not caller.is_admin:
        require_project_role(caller, project_id, "manager")
    if role not in MEMBER_ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(MEMBER_ROLES)}")
    user: User = get_user(session, username)
    from geo_label.callers import caller_from_user

    candidate = caller_from_user(user, {})
    if not can_read(candidate.access, marking_of(project)):
        raise InvalidInputError(f"{username} is not cleared for this project's marking {banner_of(project)}")
    statement = pg_insert(MEMBERSHIPS).values(project_id=project_id, user_id=user.id, role=role)
    session.execute(
        statement.on_conflict_do_update(index_elements=["project_id", "user_id"], set_={"role": role})
    )
    audit.record(
        session,
        caller,
        "membership.add",
        item_type="user",
        item_id=user.id,
        project_id=project_id,
        marking=marking_of(project),
        details={"username": username, "role": role},
    )


def remove_member(session: Session, caller: Caller, *, project_id: uuid.UUID, username: str) -> None:
    project = get_project(session, caller, project_id)
    if not caller.is_admin:
        require_project_role(caller, project_id, "manager")
    user = get_user(session, username)
    session.execute(
        delete(MEMBERSHIPS).where(Membership.project_id == project_id, Membership.user_id == user.id)
    )
    audit.record(
        session,
        caller,
        "membership.remove",
        item_type="user",
        item_id=user.id,
        project_id=project_id,
        marking=marking_of(project),
        details={"username": username},
    )


def list_members(session: Session, caller: Caller, project_id: uuid.UUID) -> list[tuple[str, str]]:
    get_project(session, caller, project_id)
    rows = session.execute(
        select(User.username, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id)
        .order_by(User.username)
    )
    return [(name, role) for name, role in rows]
