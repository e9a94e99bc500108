"""Model-assisted labeling from the command line (issue 13): models registered with a project, and their
predictions imported as suggestions."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from access_control import parse_marking
from geo_label.cli.acting import acting
from geo_label.cli.common import CliError, app, registry_for
from geo_label.cli.workflow_commands import AsJson, AsUser, number, print_json, print_row, project_id_of
from geo_label.console import count_progress, stdout
from geo_label.markings import banner_of
from geo_label.predictions import registry
from geo_label.predictions.records import PredictionFormat, parse_class_map
from geo_label.settings import load_settings

models_app = typer.Typer(help="Models registered with a project, name and version.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("add")
def models_add(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    name: Annotated[str, typer.Argument(help="The model's name, e.g. ships.")],
    version: Annotated[str, typer.Option(help="Its version, e.g. 1.2.0.")],
    description: Annotated[str, typer.Option(help="What it detects, how it was trained.")] = "",
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Register a model version with a project (a manager's act); its predictions can then be imported."""
    with acting(as_user) as (session, caller):
        project_id, project_name = project_id_of(session, caller, project)
        row = registry.add_model(
            session, caller, project_id, name=name, version=version, description=description
        )
    if as_json:
        print_json({"id": row["id"], "project_id": project_id, "name": name, "version": version})
        return
    stdout.print(f"registered model {name}@{version} with {project_name} ({row['id']})", markup=False)


@models_app.command("list")
def models_list(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """The project's models, one per line: NAME@VERSION, marking, registered at, description."""
    with acting(as_user) as (session, caller):
        project_id, _ = project_id_of(session, caller, project)
        rows = registry.list_models(session, caller, project_id)
    if as_json:
        print_json(
            [
                {
                    "id": row["id"],
                    "name": row["name"],
                    "version": row["version"],
                    "description": row["description"],
                    "marking": banner_of(row),
                    "created_at": row["created_at"],
                }
                for row in rows
            ]
        )
        return
    for row in rows:
        print_row(
            f"{row['name']}@{row['version']}",
            banner_of(row),
            row["created_at"].isoformat(timespec="seconds"),
            row["description"],
        )


@models_app.command("evaluate")
def models_evaluate(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    model: Annotated[str, typer.Argument(help="The model version, NAME@VERSION.")],
    iou: Annotated[float, typer.Option(help="IoU threshold of a match.")] = 0.5,
    score: Annotated[float, typer.Option(help="Score threshold of precision, recall and F1.")] = 0.5,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Measure a model version against the accepted labels of the done chips (what the caller may read):
    precision, recall, F1, AP50, AP50:95 per class and overall, confusion, human corrections."""
    from geo_label.predictions.evaluation import EvaluationOptions, evaluate_model

    with acting(as_user) as (session, caller):
        project_id, _ = project_id_of(session, caller, project)
        result = evaluate_model(session, caller, project_id, model, EvaluationOptions(iou=iou, score=score))
    if as_json:
        print_json({key: value for key, value in result.items() if key != "curve"})
        return
    overall = result["overall"]
    stdout.print(
        f"{result['model']} against {overall['labels']} accepted objects [{result['banner'] or 'nothing'}]",
        markup=False,
    )
    print_row("class", "predictions", "labels", "TP", "precision", "recall", "F1", "AP50", "AP50:95")
    for name, figures in [*result["classes"].items(), ("all", overall)]:
        print_row(
            name,
            figures["predictions"],
            figures["labels"],
            figures["true_positives"],
            *(number(figures[key], 3) for key in ("precision", "recall", "f1", "ap50", "ap50_95")),
        )
    correction = result["correction"]
    stdout.print(
        f"suggestions: {correction['shown']} shown, {correction['accepted_unchanged']} accepted unchanged, "
        f"{correction['edited']} edited, {correction['rejected']} rejected; {correction['added_by_people']} "
        "objects added by people",
        markup=False,
    )


predictions_app = typer.Typer(help="Model predictions, imported as suggestions.", no_args_is_help=True)
app.add_typer(predictions_app, name="predictions")


def read_class_map(path: Path) -> dict[str, str]:
    """The ``--class-map`` file (see geo_label.predictions.records.parse_class_map)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CliError(f"--class-map {path}: not readable ({exc.strerror})") from None
    return parse_class_map(text, f"--class-map {path}")


@predictions_app.command("import")
def predictions_import(
    file: Annotated[
        Path, typer.Argument(help="GeoJSON (text sequence), GeoParquet, COCO results or Label Studio tasks.")
    ],
    project: Annotated[str, typer.Option(help="Project name or id.")],
    model: Annotated[str, typer.Option(help="The registered model version, NAME@VERSION.")],
    image: Annotated[
        str | None, typer.Option(help="The image the records lie on (required for COCO's pixel coordinates).")
    ] = None,
    marking: Annotated[
        str | None, typer.Option(help="The file's marking (required when the file carries none).")
    ] = None,
    class_map: Annotated[
        Path | None,
        typer.Option(help="JSON object: the file's classes (or category ids) to the project's."),
    ] = None,
    min_score: Annotated[float, typer.Option(help="Skip records scored below this.")] = 0.0,
    strict: Annotated[bool, typer.Option(help="Refuse the whole file if any record is bad.")] = False,
    fmt: Annotated[
        PredictionFormat | None, typer.Option("--format", help="Default: told from the name and content.")
    ] = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Import a model version's predictions as suggestions on the project's chips: each record checked as a
    drawn label is, placed on one chip and marked; importing the same file again adds nothing."""
    from geo_label.predictions.importing import ImportOptions, import_predictions

    settings = load_settings()
    registry = registry_for(settings)
    try:
        image_id = uuid.UUID(image) if image is not None else None
    except ValueError:
        raise CliError(f"--image {image!r} is not an image id") from None
    options = ImportOptions(
        marking=parse_marking(marking, registry) if marking else None,
        class_map=read_class_map(class_map) if class_map else None,
        min_score=min_score,
        strict=strict,
        image_id=image_id,
        format=fmt,
    )
    with acting(as_user) as (session, caller), count_progress(f"importing {file.name}") as progress:
        project_id, project_name = project_id_of(session, caller, project)
        report = import_predictions(
            session,
            caller,
            project_id=project_id,
            model=model,
            path=file,
            registry=registry,
            options=options,
            progress=progress,
        )
    if as_json:
        print_json(report.as_dict())
        return
    banner = f" [{report.banner.banner()}]" if report.banner else ""
    stdout.print(
        f"{report.model} into {project_name}: imported {report.imported}, skipped {report.duplicates} already"
        f" present and {report.below_min_score} below --min-score, refused {report.refused_total}{banner}",
        markup=False,
    )
    for refusal in report.refused:
        stdout.print(f"  record {refusal.index}: {refusal.reason}", markup=False)
    if report.refused_total > len(report.refused):
        stdout.print(f"  ... and {report.refused_total - len(report.refused)} more", markup=False)
