"""The labeling workflow from the command line: the same service functions as the API's task routes
(``geo_label.workflow``), run as the server's operator (audited as ``system``) or, with ``--as USER``, as
that user with their access and project roles."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from typing import Annotated, Any

import orjson
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_label import projects, workflow
from geo_label.cli.acting import acting
from geo_label.cli.common import CliError, app
from geo_label.cli.service_commands import projects_app
from geo_label.console import stdout
from geo_label.db.context import Caller
from geo_label.db.models import User
from geo_label.markings import banner_of
from geo_label.workflow.common import utcnow

tasks_app = typer.Typer(
    help="The labeling workflow: tasks, progress, statistics, agreement, gold chips.", no_args_is_help=True
)
app.add_typer(tasks_app, name="tasks")

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Act as this user, with their access and project role (audited as them)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def project_id_of(session: Session, caller: Caller, project: str) -> tuple[uuid.UUID, str]:
    row = projects.find_project(session, caller, project)
    return uuid.UUID(str(row["id"])), str(row["name"])


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_row(*cells: object) -> None:
    """A tab-separated line, tabs kept (rich would expand them to spaces): easy to cut and sort."""
    sys.stdout.write("\t".join(str(cell) for cell in cells) + "\n")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def usernames(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


@projects_app.command("workflow")
def projects_workflow(
    project: str,
    review: Annotated[
        bool | None, typer.Option("--review/--no-review", help="Require review of submitted work.")
    ] = None,
    lease_minutes: Annotated[int | None, typer.Option(help="How long a leased task stays leased.")] = None,
    consensus: Annotated[int | None, typer.Option(help="Independent labelers per chip (1..10).")] = None,
    agreement_threshold: Annotated[
        float | None, typer.Option(help="Chips whose agreement falls below it are flagged (0..1).")
    ] = None,
    queue_order: Annotated[
        str | None, typer.Option(help="default, uncertain (least sure first) or most_objects.")
    ] = None,
    queue_model: Annotated[
        str | None, typer.Option(help="The model ordering the queue, NAME@VERSION.")
    ] = None,
    queue_threshold: Annotated[
        float | None, typer.Option(help="The model's decision threshold (0..1).")
    ] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Show a project's workflow settings or, given options, change them (managers and admins; audited)."""
    changes = workflow.WorkflowChanges(
        review_required=review,
        lease_minutes=lease_minutes,
        consensus_k=consensus,
        agreement_threshold=agreement_threshold,
        queue_order=queue_order,
        queue_model=queue_model,
        queue_threshold=queue_threshold,
    )
    # Validated here too: a bad value is an error before the database.
    changing = bool(changes.values()) or queue_model is not None
    with acting(as_user) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        if changing:
            settings = workflow.update_workflow(session, caller, project_id, changes)
        else:
            settings = workflow.load_workflow(session, caller, project_id)
    if as_json:
        print_json({"project_id": project_id, "project": name, **settings.as_dict()})
        return
    if changing:
        stdout.print(f"updated the workflow of {name}", markup=False)
    stdout.print(
        f"{name} [{settings.marking.banner()}]: review {'required' if settings.review_required else 'off'}, "
        f"leases of {settings.lease_minutes} minutes, {settings.consensus_k} labeler(s) per chip, "
        f"agreement threshold {settings.agreement_threshold:g}, queue order {settings.queue_order}",
        markup=False,
    )


@tasks_app.command("list")
def tasks_list(
    project: str,
    state: Annotated[
        str | None, typer.Option(help="open, in_progress, submitted, accepted or rejected.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many tasks (1..1000).")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many first.")] = 0,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """The project's tasks the caller may read, in queue order (reviewers and managers)."""
    with acting(as_user) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        rows, total = workflow.list_tasks(
            session, caller, project_id, state=state, limit=limit, offset=offset
        )
        names = usernames(session, (r["assignee"] for r in rows))
    items = [
        {
            "id": r["id"],
            "chip_id": r["chip_id"],
            "replica": r["replica"],
            "state": r["state"],
            "assignee": names.get(r["assignee"]) if r["assignee"] else None,
            "marking": banner_of(r),
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]
    if as_json:
        page = {"project_id": project_id, "total": total, "limit": limit, "offset": offset}
        print_json({**page, "items": items})
        return
    for item in items:
        updated = item["updated_at"].isoformat(timespec="seconds")
        assignee = item["assignee"] or "-"
        print_row(
            item["id"], item["chip_id"], item["replica"], item["state"], assignee, item["marking"], updated
        )
    stdout.print(f"{len(items)} of {total} tasks of {name}", markup=False)


@tasks_app.command("progress")
def tasks_progress(project: str, as_user: AsUser = None, as_json: AsJson = False) -> None:
    """Tasks by state, agreement and gold scores of the project (managers)."""
    with acting(as_user) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        report = workflow.project_progress(session, caller, project_id)
    if as_json:
        print_json(report)
        return
    tasks = report["tasks"]
    by_state = ", ".join(f"{state} {count}" for state, count in tasks["by_state"].items())
    agreement, gold = report["agreement"], report["gold"]
    stdout.print(f"{name}: {report['chips']} chips, {tasks['total']} tasks ({by_state})", markup=False)
    stdout.print(
        f"agreement: {agreement['chips_compared']} chips compared, mean {number(agreement['mean'])}, "
        f"{agreement['flagged_count']} below {agreement['threshold']:g}",
        markup=False,
    )
    stdout.print(
        f"gold: {gold['chips']} chips, {gold['scored_tasks']} tasks scored, mean F1 {number(gold['f1'])}",
        markup=False,
    )


@tasks_app.command("stats")
def tasks_stats(project: str, user: str, as_user: AsUser = None, as_json: AsJson = False) -> None:
    """One labeler's statistics in the project (for themself and the project's managers)."""
    with acting(as_user) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        stats = workflow.labeler_stats(session, caller, project_id, user)
    if as_json:
        print_json(stats)
        return
    by_state = ", ".join(f"{state} {count}" for state, count in stats["tasks"].items())
    reviews, gold = stats["reviews"], stats["gold"]
    stdout.print(f"{user} in {name}: {stats['tasks_done']} tasks done ({by_state})", markup=False)
    stdout.print(
        f"time on task {stats['time_on_task_seconds'] / 60:.1f} min, "
        f"{number(stats['mean_seconds_per_task'], 0)} s per task",
        markup=False,
    )
    stdout.print(
        f"reviews: {reviews['accepted']} accepted, {reviews['rejected']} rejected, "
        f"acceptance rate {percent(stats['acceptance_rate'])}",
        markup=False,
    )
    stdout.print(f"gold: {gold['tasks']} tasks scored, mean F1 {number(gold['f1'])}", markup=False)


@tasks_app.command("agreement")
def tasks_agreement(project: str, as_user: AsUser = None, as_json: AsJson = False) -> None:
    """Agreement between the independent labelers of each chip; the chips below the threshold (managers)."""
    with acting(as_user) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        summary = workflow.agreement_summary(session, caller, project_id)
    if as_json:
        print_json(summary)
        return
    for chip in summary["flagged"]:
        print_row(chip["chip_id"], f"{chip['agreement']:.2f}")
    listed = len(summary["flagged"])
    more = f" ({listed} listed)" if listed < summary["flagged_count"] else ""
    stdout.print(
        f"{name}: {summary['chips_compared']} chips compared ({summary['consensus_k']} labeler(s) per chip), "
        f"mean agreement {number(summary['mean'])}, {summary['flagged_count']} below "
        f"{summary['threshold']:g}{more}",
        markup=False,
    )


@tasks_app.command("gold")
def tasks_gold(
    project: str,
    chip_id: str,
    as_user: Annotated[
        str,
        typer.Option(
            "--as", help="The manager whose own annotations on the chip become its references (moved)."
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Make a chip gold: the manager's own annotations on it become the reference features (and leave the
    annotations, so that labelers never see the answers); work already handed in on it is scored."""
    try:
        chip = uuid.UUID(chip_id)
    except ValueError:
        raise CliError(f"not a chip id: {chip_id!r}") from None
    with acting(as_user) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        result = workflow.mark_gold(session, caller, project_id, chip)
    if as_json:
        print_json(
            {
                "chip_id": result.chip_id,
                "references": result.references,
                "moved_annotations": result.moved_annotations,
                "rescored": result.rescored,
            }
        )
        return
    stdout.print(
        f"chip {result.chip_id} of {name} is gold: {result.references} reference features "
        f"({result.moved_annotations} annotations moved), {result.rescored} handed-in tasks scored",
        markup=False,
    )


@tasks_app.command("release-expired")
def tasks_release_expired(project: str, as_json: AsJson = False) -> None:
    """Return the tasks whose lease lapsed to the queue now (the labelers' drafts stay; audited)."""
    with acting(None) as (session, caller):
        project_id, name = project_id_of(session, caller, project)
        released = workflow.release_expired(session, caller, project_id, now=utcnow())
    if as_json:
        print_json({"project_id": project_id, "released": released})
        return
    stdout.print(f"released {released} expired lease(s) in {name}", markup=False)
