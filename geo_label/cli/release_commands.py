"""`geo-label releases`: release requests for partner nations, reviewed by a foreign disclosure officer."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from geo_label import releases
from geo_label.cli.acting import acting
from geo_label.cli.common import CliError, app, registry_for
from geo_label.cli.workflow_commands import AsJson, AsUser, print_json, print_row
from geo_label.console import stdout
from geo_label.markings import marking_of
from geo_label.settings import load_settings
from tiling.atomic import atomic_path

releases_app = typer.Typer(
    help="Exports for partner nations: requested by `export --recipient`, reviewed by a foreign disclosure "
    "officer, downloaded by the requester.",
    no_args_is_help=True,
)
app.add_typer(releases_app, name="releases")

RequestId = Annotated[str, typer.Argument(help="The release request's id.")]
Justification = Annotated[str, typer.Option(help="Why: kept with the decision and audited.")]
Officer = Annotated[str, typer.Option("--as", help="The foreign disclosure officer deciding.")]


def request_id_of(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise CliError(f"not a release request id: {text[:40]}") from None


def described(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "project_id": str(row["project_id"]),
        "recipient": row["recipient"],
        "state": row["state"],
        "banner": marking_of(row).banner(),
        "features": row["feature_count"],
        "requested_by": str(row["requested_by"]),
        "requested_at": row["requested_at"].isoformat(),
        "decided_by": str(row["decided_by"]) if row["decided_by"] else None,
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        "justification": row["justification"],
        "download_sha256": row["download_sha256"],
    }


@releases_app.command("list")
def releases_list(
    as_user: AsUser = None,
    state: Annotated[str | None, typer.Option(help="pending, approved or denied.")] = None,
    as_json: AsJson = False,
) -> None:
    """The release requests you may see: your own, or every one you can read as an officer."""
    with acting(as_user) as (session, caller):
        rows = [described(row) for row in releases.list_releases(session, caller, state=state)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        print_row(
            row["id"], row["state"], row["recipient"], row["features"], row["banner"], row["requested_at"]
        )


@releases_app.command("show")
def releases_show(request: RequestId, as_user: AsUser = None, as_json: AsJson = False) -> None:
    """One request: who asked, for whom, its banner, its features by marking, and the decision."""
    request_id = request_id_of(request)
    with acting(as_user) as (session, caller):
        row = described(releases.get_release(session, caller, request_id))
        row["by_marking"] = releases.release_counts(session, caller, request_id).by_marking
    if as_json:
        print_json(row)
        return
    for key, value in row.items():
        print_row(key, value)


def decide(request: str, as_user: str, justification: str, *, approve: bool) -> None:
    with acting(as_user) as (session, caller):
        row = releases.decide(
            session, caller, request_id_of(request), approve=approve, justification=justification
        )
    stdout.print(f"release request {row['id']} {row['state']}", markup=False)


@releases_app.command("approve")
def releases_approve(request: RequestId, as_user: Officer, justification: Justification) -> None:
    """Approve a pending request (a foreign disclosure officer other than its requester)."""
    decide(request, as_user, justification, approve=True)


@releases_app.command("deny")
def releases_deny(request: RequestId, as_user: Officer, justification: Justification) -> None:
    """Deny a pending request (a foreign disclosure officer other than its requester)."""
    decide(request, as_user, justification, approve=False)


@releases_app.command("download")
def releases_download(
    request: RequestId,
    as_user: Annotated[str, typer.Option("--as", help="The requester.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
) -> None:
    """Write an approved request's features, exactly as reviewed, to a file (its requester only)."""
    settings = load_settings()
    output.parent.mkdir(parents=True, exist_ok=True)
    with acting(as_user) as (session, caller), atomic_path(output) as temp, temp.open("wb") as out:
        summary = releases.download_release(
            session,
            caller,
            request_id_of(request),
            out,
            registry=registry_for(settings),
            spool_dir=settings.spool_dir,
        )
    stdout.print(
        f"released {summary.count} features [{summary.banner.banner()}] to {output} "
        f"(sha256 {summary.sha256})",
        markup=False,
    )
