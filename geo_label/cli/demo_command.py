"""`geo-label demo`: a whole GeoLabel on one machine in one command: the embedded database, people at several
clearances and citizenships, a project, two ingested scenes (one a NITF marked SECRET), then the service."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import orjson
import typer

from access_control import parse_marking
from geo_label import images, projects, users
from geo_label.cli.common import app, registry_for
from geo_label.console import stdout
from geo_label.db.engine import upgrade_schema
from geo_label.db.runtime import open_database, system_session
from geo_label.errors import ConflictError
from geo_label.private_files import prepare_data_dir
from geo_label.security.passwords import hasher_for
from geo_label.settings import load_settings
from imagery.nitf import nitf_security_fields
from imagery.synthetic import sample_scene_spec, write_scene
from tiling import TileParameters

PROJECT = "Harbor watch"
PROJECT_MARKING = "SECRET//REL TO USA, GBR"
#: (username, clearance, citizenship, system roles, project role)
PEOPLE = (
    ("admin", "TS//SI/TK", "USA", ("admin",), None),
    ("officer", "TS//SI/TK", "USA", ("security_officer",), None),
    # A second officer: widening anyone's access takes two (docs/security.md, "Granting access").
    ("olga", "TS//SI/TK", "USA", ("security_officer",), None),
    ("ana", "TS//SI/TK", "USA", (), "labeler"),
    ("ben", "S", "GBR", (), "labeler"),
    ("rhea", "S", "USA", (), "reviewer"),
    ("max", "S", "USA", (), "manager"),
    ("una", "U", "USA", (), None),
)


def demo_passwords(data_dir: Path) -> dict[str, str]:
    """Passwords kept in DATA_DIR/demo-users.json (mode 0600) so a second `make demo` prints the same ones."""
    path = data_dir / "demo-users.json"
    stored: dict[str, str] = orjson.loads(path.read_bytes()) if path.exists() else {}
    passwords = {name: stored.get(name) or secrets.token_urlsafe(12) for name, *_ in PEOPLE}
    if passwords != stored:  # new, or a demo of an earlier version with fewer people
        temporary = path.with_name(path.name + ".new")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(passwords, option=orjson.OPT_INDENT_2))
        temporary.replace(path)
    return passwords


@app.command()
def demo(
    serve: Annotated[bool, typer.Option(help="Serve on http://127.0.0.1:8000 when ready.")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Set up a demonstration (idempotent) in GEO_LABEL_DATA_DIR and serve it."""
    settings = load_settings()
    registry = registry_for(settings)
    data_dir = settings.data_dir
    prepare_data_dir(
        data_dir,
        traversable=not settings.database_url and os.geteuid() == 0,
        service_group=settings.service_group,
    )
    passwords = demo_passwords(data_dir)
    scenes = data_dir / "scenes"
    scene, secret = scenes / "harbor.tif", scenes / "harbor-secret.ntf"
    if not scene.exists():
        write_scene(scene, sample_scene_spec(3072, seed=11))
    if not secret.exists():
        fields = nitf_security_fields(parse_marking("SECRET//REL TO USA, GBR", registry))
        write_scene(secret, sample_scene_spec(2048, nitf_fields=fields, seed=12))
    with open_database(settings, pool_size=2) as database:
        upgrade_schema(database.owner_url, audit_key=database.audit_key)
        hasher = hasher_for(settings.password_scheme)
        with system_session(database, registry) as session:
            operator = session.info["caller"]
            for name, clearance, country, roles, _ in PEOPLE:
                access = users.Clearance.parse(clearance, citizenship=country, registry=registry)
                try:
                    with session.begin_nested():
                        users.create_user(
                            session,
                            operator,
                            username=name,
                            password_hash=hasher.hash(passwords[name]),
                            clearance=access,
                            roles=frozenset(roles),
                        )
                except ConflictError:
                    pass
            try:
                with session.begin_nested():
                    projects.create_project(
                        session,
                        operator,
                        name=PROJECT,
                        marking=parse_marking(PROJECT_MARKING, registry),
                        classes=[
                            projects.LabelClass("vehicle"),
                            projects.LabelClass("vessel"),
                            projects.LabelClass("building", ("Polygon", "MultiPolygon")),
                        ],
                    )
            except ConflictError:
                pass
        with system_session(database, registry) as session:
            project = dict(projects.find_project(session, session.info["caller"], PROJECT))
            for name, _, _, _, role in PEOPLE:
                if role:
                    projects.add_member(
                        session, session.info["caller"], project_id=project["id"], username=name, role=role
                    )
        for path, marking in ((scene, "UNCLASSIFIED"), (secret, None)):
            prepared = images.prepare_image(
                path,
                project=project,
                operator_marking=parse_marking(marking, registry) if marking else None,
                registry=registry,
                data_dir=data_dir,
                params=TileParameters(),
            )
            with system_session(database, registry) as session:
                images.register_image(session, session.info["caller"], project=project, prepared=prepared)
            stdout.print(f"ingested {path.name} as {prepared.marking.banner()}", markup=False)
    stdout.print(f"\nProject {PROJECT!r} [{PROJECT_MARKING}]. Sign in as:", markup=False)
    for name, clearance, country, roles, role in PEOPLE:
        what = ", ".join([*roles, *([role] if role else [])]) or "no project"
        stdout.print(f"  {name:8s} {passwords[name]:18s} {clearance:10s} {country}  ({what})", markup=False)
    if serve:
        from geo_label.cli.service_commands import serve as serve_command

        serve_command(host="127.0.0.1", port=port)
