"""Commands that use the database: the same service functions as the API, run as the server's operator
(or, for `export --as`, as the named user with that user's access)."""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from access_control import parse_marking
from geo_label import audit, exporting, images, projects, releases, users
from geo_label import audit_forward as audit_forwarding
from geo_label.callers import roles_of
from geo_label.cli.acting import acting
from geo_label.cli.common import CliError, app, registry_for
from geo_label.console import stdout
from geo_label.db.engine import upgrade_schema
from geo_label.db.runtime import open_database, owner_url, system_session
from geo_label.export.geojson import ExportFormat
from geo_label.export.merge import DEFAULT_IOU, MergeRule
from geo_label.markings import marking_of
from geo_label.security.keys import load_or_create_audit_key
from geo_label.security.passwords import check_password_policy, hasher_for, one_time_password
from geo_label.security.tokens import load_or_create_signing_key
from geo_label.settings import Settings, load_settings
from tiling import SchedulerChoice, TileParameters
from tiling.atomic import atomic_path

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts and clearances.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects and members.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(projects_app, name="projects")
app.add_typer(audit_app, name="audit")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema (as its owner). Safe to repeat."""
    settings = load_settings()
    with owner_url(settings) as url:
        upgrade_schema(url, audit_key=load_or_create_audit_key(settings))
    stdout.print("database schema is up to date")


@app.command()
def init() -> None:
    """Prepare a new installation or check an existing one: the data directory, the token signing and audit
    seal keys, the database (the embedded one when no URL is set) and its schema. Safe to repeat: what exists
    is kept."""
    settings = load_settings()
    with owner_url(settings) as url:
        load_or_create_signing_key(settings)
        upgrade_schema(url, audit_key=load_or_create_audit_key(settings))
    stdout.print(f"ready: {settings.data_dir.absolute()} (keys, database schema up to date)", markup=False)


def as_utc(moment: datetime | None) -> datetime | None:
    """A date given on the command line, read as UTC (as the options' help says) unless it names its zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def read_password(from_stdin: bool, username: str) -> tuple[str, bool]:
    """The password from standard input, or a generated one (then shown once)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        check_password_policy(password, username)
        return password, False
    return secrets.token_urlsafe(18), True


@users_app.command("add")
def users_add(
    name: str,
    clearance: Annotated[str, typer.Option(help='Level and SCI accesses, e.g. "TS//SI/TK".')],
    citizenship: Annotated[str, typer.Option(help="Country trigraph, e.g. USA, GBR.")],
    role: Annotated[
        list[str] | None,
        typer.Option(help="admin, security_officer or foreign_disclosure_officer (repeatable)."),
    ] = None,
    cui: Annotated[bool, typer.Option(help="May read CUI and FOUO.")] = False,
    expires: Annotated[datetime | None, typer.Option(help="Clearance expiry (UTC).")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    oidc_subject: Annotated[str | None, typer.Option(help="Link to this OIDC subject (sub claim).")] = None,
    certificate_subject: Annotated[
        str | None,
        typer.Option(
            help="Link to the subject of this X.509 client certificate (RFC 4514, e.g. CN=Name,O=Org)."
        ),
    ] = None,
) -> None:
    """Create an account; without --password-stdin a strong password is generated and shown once."""
    settings = load_settings()
    registry = registry_for(settings)
    password, generated = read_password(password_stdin, name)
    access = users.Clearance.parse(
        clearance, citizenship=citizenship, cui_ok=cui, expires=as_utc(expires), registry=registry
    )
    password_hash = hasher_for(settings.password_scheme).hash(password)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        users.create_user(
            session,
            session.info["caller"],
            username=name,
            password_hash=password_hash,
            clearance=access,
            roles=frozenset(role or ()),
            oidc_subject=oidc_subject,
            certificate_subject=certificate_subject,
        )
    shown = f", password: {password}" if generated else ""
    stdout.print(
        f"created user {name} ({users.describe(access.access)}, {access.access.citizenship}){shown}",
        markup=False,
    )


@users_app.command("set-clearance")
def users_set_clearance(
    name: str,
    clearance: str,
    citizenship: Annotated[str | None, typer.Option(help="Change the citizenship too.")] = None,
    cui: Annotated[bool | None, typer.Option(help="May read CUI and FOUO.")] = None,
    expires: Annotated[
        datetime | None, typer.Option(help="Clearance expiry (UTC); omitted: the stored expiry stays.")
    ] = None,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="Remove the clearance's expiry (audited).")
    ] = False,
) -> None:
    """Grant, change or revoke (set UNCLASSIFIED) a clearance; effective on the user's next request.
    What is not given (citizenship, CUI approval, expiry) stays as stored."""
    if expires is not None and no_expiry:
        raise CliError("give --expires or --no-expiry, not both")
    settings = load_settings()
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        user = users.get_user(session, name)
        access = users.Clearance.parse(
            clearance,
            citizenship=citizenship or user.citizenship,
            cui_ok=user.cui_ok if cui is None else cui,
            expires=None if no_expiry else (as_utc(expires) or user.clearance_expires),
            registry=registry,
        )
        users.set_clearance(session, session.info["caller"], username=name, clearance=access)
    stdout.print(f"{name} now holds {users.describe(access.access)}")


@contextmanager
def as_operator() -> Iterator[Session]:
    """A transaction as the host's operator (audited as ``system``)."""
    settings = load_settings()
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        yield session


@users_app.command("reset-password")
def users_reset_password(name: str) -> None:
    """Set a one-time password (printed once): the account's sessions end, and its next sign-in must choose a
    new password."""
    settings = load_settings()
    one_time = one_time_password()
    password_hash = hasher_for(settings.password_scheme).hash(one_time)
    with as_operator() as session:
        users.reset_password(session, session.info["caller"], username=name, password_hash=password_hash)
    stdout.print(f"{name}: one-time password {one_time} (to be changed at the next sign-in)", markup=False)


@users_app.command("unlock")
def users_unlock(name: str) -> None:
    """Lift a sign-in lock-out."""
    with as_operator() as session:
        users.unlock(session, session.info["caller"], username=name)
    stdout.print(f"{name} is unlocked", markup=False)


@users_app.command("deactivate")
def users_deactivate(
    name: str,
    reason: Annotated[
        str, typer.Option(help="Why: told to the account's holder when they sign in, audited.")
    ],
) -> None:
    """Deactivate an account; its sessions end at once."""
    with as_operator() as session:
        users.set_active(session, session.info["caller"], username=name, active=False, reason=reason)
    stdout.print(f"{name} is deactivated", markup=False)


@users_app.command("reactivate")
def users_reactivate(name: str) -> None:
    with as_operator() as session:
        users.set_active(session, session.info["caller"], username=name, active=True)
    stdout.print(f"{name} is active again", markup=False)


@users_app.command("end-sessions")
def users_end_sessions(name: str) -> None:
    """End every session of the account at once (its tokens are refused from the next request)."""
    with as_operator() as session:
        ended = users.end_sessions(session, session.info["caller"], username=name)
    stdout.print(f"ended {ended} session(s) of {name}", markup=False)


@users_app.command("list")
def users_list() -> None:
    settings = load_settings()
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        for user in users.list_users(session, session.info["caller"]):
            roles = ",".join(sorted(roles_of(user)))
            stdout.print(
                f"{user.username}\t{user.citizenship}\tclearance level {user.clearance}\t{roles}",
                markup=False,
            )


@projects_app.command("create")
def projects_create(
    name: str,
    marking: Annotated[str, typer.Option(help="The project's marking floor (banner form).")],
    classes: Annotated[str, typer.Option(help="Comma-separated label classes, e.g. vehicle,building.")],
    description: str = "",
    review: Annotated[bool, typer.Option(help="Require review of submitted work.")] = True,
) -> None:
    """Create a project; every class allows every geometry type (refine through the API)."""
    settings = load_settings()
    registry = registry_for(settings)
    label_classes = [projects.LabelClass(c.strip()) for c in classes.split(",") if c.strip()]
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        project_id = projects.create_project(
            session,
            session.info["caller"],
            name=name,
            marking=parse_marking(marking, registry),
            classes=label_classes,
            description=description,
            review_required=review,
        )
    stdout.print(f"created project {name} ({project_id})")


@projects_app.command("add-member")
def projects_add_member(
    project: str, user: str, role: Annotated[str, typer.Option(help="labeler, reviewer or manager")]
) -> None:
    settings = load_settings()
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        caller = session.info["caller"]
        row = projects.find_project(session, caller, project)
        projects.add_member(session, caller, project_id=row["id"], username=user, role=role)
    stdout.print(f"{user} is now a {role} of {row['name']}")


@projects_app.command("list")
def projects_list() -> None:
    settings = load_settings()
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        rows, _ = projects.list_projects(session, session.info["caller"], limit=1000, offset=0)
        for row in rows:
            stdout.print(
                f"{row['id']}\t{row['name']}\t{projects.project_marking(row).banner()}", markup=False
            )


@app.command()
def ingest(
    image: Path,
    project: Annotated[str, typer.Option(help="Project name or id.")],
    marking: Annotated[
        str | None, typer.Option(help="Marking (banner); may raise, never lower, the file's.")
    ] = None,
    size: Annotated[int, typer.Option(min=16, max=8192)] = 512,
    overlap: Annotated[int, typer.Option(min=0)] = 64,
    scheduler: Annotated[str | None, typer.Option(help="dask.distributed scheduler address.")] = None,
    workers: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Inspect, tile (Dask) and register an image and its chips; ingesting it again changes nothing."""
    if overlap >= size:
        raise CliError(f"--overlap ({overlap}) must be smaller than --size ({size})")
    settings = load_settings()
    registry = registry_for(settings)
    requested = parse_marking(marking, registry) if marking else None
    with open_database(settings, pool_size=1) as database:
        with system_session(database, registry) as session:
            row = dict(projects.find_project(session, session.info["caller"], project))
        prepared = images.prepare_image(
            image,
            project=row,
            operator_marking=requested,
            registry=registry,
            data_dir=settings.data_dir,
            params=TileParameters(size=size, overlap=overlap),
            scheduler=SchedulerChoice(address=scheduler, workers=workers),
        )
        with system_session(database, registry) as session:
            image_id, registered = images.register_image(
                session, session.info["caller"], project=row, prepared=prepared
            )
    stdout.print(
        f"ingested {image.name} [{prepared.marking.banner()}] into {row['name']}: image {image_id}, "
        f"{registered} new chips",
        markup=False,
    )


@app.command()
def export(
    project: Annotated[str, typer.Option(help="Project name or id.")],
    as_user: Annotated[str, typer.Option("--as", help="Export with this user's access (audited as them).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    recipient: Annotated[str | None, typer.Option(help="Partner nation the export is for, e.g. GBR.")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.GEOJSON,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses (repeatable).")] = None,
    merge: Annotated[
        bool, typer.Option(help="An object labeled on overlapping chips as one feature (merged_from).")
    ] = True,
    merge_iou: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Polygons: the intersection over union of one object.")
    ] = DEFAULT_IOU,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")] = False,
) -> None:
    """Export labels as RFC 7946 GeoJSON (or GeoJSON text sequences, GeoParquet, GeoPackage), marked feature
    by feature, the file with its banner. For a partner nation (--recipient) no file is written: the export
    becomes a release request that a foreign disclosure officer reviews (`geo-label releases`)."""
    settings = load_settings()
    if releases.needs_review(recipient):
        with acting(as_user) as (session, caller):
            row = projects.find_project(session, caller, project)
            request = releases.request_release(
                session,
                caller,
                project_id=uuid.UUID(str(row["id"])),
                recipient=str(recipient),
                registry=registry_for(settings),
                fmt=fmt,
                statuses=tuple(status or ()),
                merge=MergeRule(iou=merge_iou) if merge else None,
                spool_dir=settings.spool_dir,
            )
        said = {"release_request": str(request["id"]), "banner": marking_of(request).banner()}
        if as_json:
            sys.stdout.write(orjson.dumps({**said, "features": request["feature_count"]}).decode() + "\n")
        else:
            stdout.print(f"release request {request['id']} awaiting review", markup=False)
        return
    with acting(as_user) as (session, caller):
        row = projects.find_project(session, caller, project)
        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(output) as temp, temp.open("wb") as out:
            summary = exporting.export_project(
                session,
                caller,
                project_id=uuid.UUID(str(row["id"])),
                out=out,
                registry=registry_for(settings),
                fmt=fmt,
                recipient=recipient,
                statuses=tuple(status or ()),
                spool_dir=settings.spool_dir,
                merge=MergeRule(iou=merge_iou) if merge else None,
            )
    stdout.print(f"exported {summary.count} features [{summary.banner.banner()}] to {output}", markup=False)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain and check every record's seal; exit status 1 when a record was altered,
    removed, reordered or written past the service."""
    settings = load_settings()

    with owner_url(settings) as url:
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                problems = audit.verify_chain(session, load_or_create_audit_key(settings))
                count = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        finally:
            engine.dispose()
    if problems:
        for record_id, problem in problems:
            stdout.print(f"record {record_id}: {problem}")
        raise CliError(f"the audit chain is broken ({len(problems)} problems)")
    stdout.print(f"audit chain intact: {count} records")


@audit_app.command("forward")
def audit_forward(
    target: Annotated[
        str | None,
        typer.Option(help="syslog:PATH or file:PATH (default: GEO_LABEL_AUDIT_FORWARD)."),
    ] = None,
) -> None:
    """Send the audit records a target has not had yet (what `geo-label serve` does every few seconds)."""
    settings = load_settings()
    spec = target or settings.audit_forward
    if not spec:
        raise CliError("no forwarding target: give --target or set GEO_LABEL_AUDIT_FORWARD")
    try:
        where = audit_forwarding.target_of(spec)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        try:
            sent = audit_forwarding.forward_once(session, where)
        except OSError as exc:
            raise CliError(f"{where.name} did not take the records ({exc}); they stay to be sent") from None
    stdout.print(f"forwarded {sent} audit records to {where.name}", markup=False)


@audit_app.command("export")
def audit_export(
    since: Annotated[datetime, typer.Option(help="From this time (ISO 8601; naive means UTC).")],
    until: Annotated[datetime | None, typer.Option(help="Up to this time (excluded).")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default: standard output).")
    ] = None,
) -> None:
    """The audit records of a period as JSON lines, as they are forwarded."""
    settings = load_settings()
    registry = registry_for(settings)
    start, end = (t if t is None or t.tzinfo else t.replace(tzinfo=UTC) for t in (since, until))
    with open_database(settings, pool_size=1) as database, system_session(database, registry) as session:
        lines = (line + b"\n" for _, line in audit_forwarding.records(session, since=start, until=end))
        if output is None:
            for line in lines:
                sys.stdout.buffer.write(line)
            sys.stdout.flush()
        else:
            with atomic_path(output) as temp, temp.open("wb") as out:
                out.writelines(lines)


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="GEO_LABEL_HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="GEO_LABEL_PORT", min=1, max=65535)] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            envvar="GEO_LABEL_WORKERS", min=1, help="Processes to serve with (default: the core count)."
        ),
    ] = None,
) -> None:
    """Serve the API and the labeling UI. Ctrl-C or SIGTERM stops the service (and the embedded database if
    no other GeoLabel process uses it)."""
    import uvicorn

    from api.http_protocol import NoDelayH11Protocol

    try:
        # Each serving process starts in this one's folder: multiprocessing's spawn changes into it by its
        # path, which the service account may not be able to (the installed command, run as root from a
        # folder of root's home, runs as the account), and every process then failed before it served.
        os.chdir(os.getcwd())
    except OSError:
        os.chdir("/")
    settings = load_settings()
    processes = workers or settings.workers or os.cpu_count() or 1
    tls = tls_options(settings)
    if settings.public_url is None:  # links and accepted hosts from the bind address
        bound = f"[{host}]" if ":" in host else host
        scheme = "https" if tls else "http"
        settings = settings.model_copy(update={"public_url": f"{scheme}://{bound}:{port}"})
    # The processes read their settings from the environment (api.app.served_app).
    os.environ["GEO_LABEL_PUBLIC_URL"] = str(settings.public_url)
    os.environ["GEO_LABEL_WORKERS"] = str(processes)
    # The database runs and the keys exist before any process starts, so they never race to create them.
    with stop_on_sigterm(), owner_url(settings):
        load_or_create_signing_key(settings)
        load_or_create_audit_key(settings)
        stdout.print(
            f"GeoLabel on {settings.public_url} (API docs at /docs), {processes} "
            f"{'process' if processes == 1 else 'processes'}; Ctrl-C to stop"
        )
        uvicorn.run(
            "api.app:served_app",
            factory=True,
            http=NoDelayH11Protocol,
            host=host,
            port=port,
            workers=processes,
            # uvicorn restarts a worker that has not answered its supervisor within this many seconds, from
            # its start on: 5 by default, less than a worker takes to import GeoLabel on a slow or traced
            # host (the air-gap test's), where workers were then restarted forever and never served.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            log_level="warning",
            access_log=False,
            **tls,
        )
    stdout.print("stopped")


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options from the settings: HTTPS with the service's certificate and key; with a client
    CA bundle, client certificates required and verified (and checked against the CRL when one is given)."""
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.tls_client_ca or settings.tls_crl:
            raise CliError("client certificates need GeoLabel to serve TLS: set GEO_LABEL_TLS_CERT and _KEY")
        return {}
    if settings.tls_cert is None or settings.tls_key is None:
        raise CliError("HTTPS needs both GEO_LABEL_TLS_CERT and GEO_LABEL_TLS_KEY")
    if settings.tls_crl is not None and settings.tls_client_ca is None:
        raise CliError(
            "a CRL (GEO_LABEL_TLS_CRL) checks client certificates: set GEO_LABEL_TLS_CLIENT_CA too"
        )
    for path in (settings.tls_cert, settings.tls_key, settings.tls_client_ca, settings.tls_crl):
        if path is not None and not path.is_file():
            raise CliError(f"no such file: {path}")
    options: dict[str, Any] = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    if settings.tls_client_ca is not None:
        options.update(ssl_ca_certs=str(settings.tls_client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    if settings.tls_crl is not None:
        from api.http_protocol import context_with_crl

        options["ssl_context_factory"] = partial(context_with_crl, str(settings.tls_crl))
    return options


#: Seconds a serving process may take to answer uvicorn's supervisor (at its start: its imports) before it is
#: restarted as hung.
WORKER_HEALTHCHECK_S = 120


class StopRequested(Exception):
    """SIGTERM: the service manager asks the service to stop."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Make SIGTERM unwind the stack like Ctrl-C does, so the embedded database is stopped on the way out.

    uvicorn shuts down gracefully on SIGTERM and then raises the signal again with the handler it found. With
    Python's default handler that kills the process on the spot, which left the embedded PostgreSQL running
    after `systemctl stop`. With this one, it ends the service cleanly (exit status 0).
    """

    def request_stop(signum: int, frame: object) -> None:
        raise StopRequested

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    except StopRequested:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
