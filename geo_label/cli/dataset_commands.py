"""`geo-label dataset export`: a project's labels as a training dataset (see :mod:`geo_label.datasets`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from geo_label import projects
from geo_label.cli.acting import acting
from geo_label.cli.common import app, registry_for
from geo_label.console import stdout
from geo_label.datasets.formats import DatasetFormat, DatasetImages
from geo_label.datasets.splits import DEFAULT_BLOCK, SplitPlan, parse_fractions
from geo_label.settings import load_settings

dataset_app = typer.Typer(help="Training datasets for ML programs.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("export")
def dataset_export(
    project: Annotated[str, typer.Option(help="Project name or id.")],
    as_user: Annotated[str, typer.Option("--as", help="Export with this user's access (audited as them).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write (new, or empty).")],
    fmt: Annotated[
        list[DatasetFormat], typer.Option("--format", help="stac, coco, masks or yolo (repeatable).")
    ],
    recipient: Annotated[
        str | None, typer.Option(help="Partner nation the dataset is for, e.g. GBR.")
    ] = None,
    split: Annotated[str, typer.Option(help="Shares of train, val, test.")] = "0.8,0.1,0.1",
    split_seed: Annotated[int, typer.Option(help="The same seed gives the same splits.")] = 0,
    split_block: Annotated[
        int, typer.Option(min=1, help="Chips per side of the blocks that are assigned to one split.")
    ] = DEFAULT_BLOCK,
    status: Annotated[
        list[str] | None, typer.Option(help="Only labels in these statuses (repeatable).")
    ] = None,
    images: Annotated[
        DatasetImages, typer.Option(help="cog: the chips' GeoTIFFs; preview: their 8-bit JPEG previews.")
    ] = DatasetImages.COG,
) -> None:
    """Write a training dataset: STAC (label extension), COCO, masks or YOLO, in spatially disjoint splits,
    every item marked and the banner in MARKING.txt."""
    # The writers (pystac, rasterio) load only for this command, not at every `geo-label` start.
    from geo_label.datasets.export import export_dataset

    plan = SplitPlan(fractions=parse_fractions(split), seed=split_seed, block=split_block)
    with acting(as_user) as (session, caller):
        row = projects.find_project(session, caller, project)
        summary = export_dataset(
            session,
            caller,
            project_id=uuid.UUID(str(row["id"])),
            out=output.absolute(),
            registry=registry_for(load_settings()),
            formats=tuple(fmt),
            plan=plan,
            statuses=tuple(status or ()),
            recipient=recipient,
            images=images,
        )
    counts = ", ".join(f"{name} {count}" for name, count in summary.chips.items())
    stdout.print(
        f"wrote {summary.labels} labels on chips {counts} ({summary.guard} left out between splits) "
        f"[{summary.banner.banner()}] to {output}",
        markup=False,
    )
