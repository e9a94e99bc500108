"""`geo-label downgrades`: lowering a marking below its floor, by two security officers (issue 15)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from access_control import parse_marking
from geo_label import downgrades
from geo_label.cli.acting import acting
from geo_label.cli.common import CliError, app, registry_for
from geo_label.cli.workflow_commands import AsJson, print_json, print_row
from geo_label.console import stdout
from geo_label.markings import banner_of
from geo_label.settings import load_settings

downgrades_app = typer.Typer(
    help="Lowering a marking below its floor: one security officer proposes, another approves.",
    no_args_is_help=True,
)
app.add_typer(downgrades_app, name="downgrades")

Officer = Annotated[str, typer.Option("--as", help="The security officer acting.")]
Comment = Annotated[str, typer.Option(help="A comment kept with the decision.")]


def id_of(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise CliError(f"not {what} id: {text[:40]}") from None


def described(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "annotation_id": str(row["annotation_id"]),
        "version": row["version"],
        "marking": banner_of(row),
        "to_marking": row["to_marking"],
        "justification": row["justification"],
        "proposed_by": str(row["proposed_by"]),
        "state": row["state"],
        "comment": row["comment"],
    }


@downgrades_app.command("propose")
def propose(
    annotation: Annotated[str, typer.Argument(help="The annotation's id.")],
    marking: Annotated[str, typer.Option(help="The lower marking (banner form).")],
    justification: Annotated[str, typer.Option(help="Why (at least 10 characters): kept and audited.")],
    version: Annotated[int, typer.Option(help="The annotation's version you read (its ETag).")],
    as_user: Officer,
    as_json: AsJson = False,
) -> None:
    """Propose lowering an annotation's marking: nothing changes until another security officer approves."""
    settings = load_settings()
    with acting(as_user) as (session, caller):
        row = downgrades.propose_downgrade(
            session,
            caller,
            id_of(annotation, "an annotation"),
            marking=parse_marking(marking, registry_for(settings)),
            justification=justification,
            if_match=version,
        )
        out = described(row)
    if as_json:
        print_json(out)
    else:
        stdout.print(f"downgrade {out['id']} proposed: awaiting another security officer", markup=False)


@downgrades_app.command("list")
def list_proposals(
    as_user: Officer,
    state: Annotated[str, typer.Option(help="pending, approved or denied.")] = "pending",
    as_json: AsJson = False,
) -> None:
    """The proposals of your projects that you may read."""
    with acting(as_user) as (session, caller):
        rows = [described(r) for r in downgrades.list_downgrades(session, caller, state=state)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        print_row(
            *(row[k] for k in ("id", "annotation_id", "marking", "to_marking", "state", "justification"))
        )


def decide(proposal: str, as_user: str, comment: str, *, approve: bool) -> None:
    settings = load_settings()
    with acting(as_user) as (session, caller):
        row = downgrades.decide_downgrade(
            session,
            caller,
            id_of(proposal, "a downgrade proposal"),
            approve=approve,
            registry=registry_for(settings),
            comment=comment,
        )
    stdout.print(f"downgrade {row['id']} {row['state']}", markup=False)


@downgrades_app.command("approve")
def approve(proposal: str, as_user: Officer, comment: Comment = "") -> None:
    """Approve another officer's proposal: the marking is lowered now (if the annotation is unchanged)."""
    decide(proposal, as_user, comment, approve=True)


@downgrades_app.command("deny")
def deny(proposal: str, as_user: Officer, comment: Comment = "") -> None:
    """Deny another officer's proposal: the marking stays."""
    decide(proposal, as_user, comment, approve=False)
