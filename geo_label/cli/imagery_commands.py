"""`geo-label inspect`, `tile` and `sample-scene`: imagery on its own, no database needed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from access_control import parse_marking
from geo_label.cli.common import CliError, app, registry_for
from geo_label.console import chip_progress, stdout
from geo_label.image_marking import image_marking
from geo_label.settings import load_settings
from imagery import ImageInfo, inspect_image
from imagery.nitf import nitf_security_fields
from imagery.synthetic import sample_scene_spec, write_scene
from tiling import (
    Compression,
    LocalMode,
    SchedulerChoice,
    TileParameters,
    tile_image,
)


def print_info(info: ImageInfo) -> None:
    data = info.to_dict()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    bounds = info.footprint.bounds
    rows = [
        ("path", data["path"]),
        ("driver", info.driver),
        ("size", f"{info.width} x {info.height} pixels, {info.band_count} bands, {info.dtype}"),
        ("nodata", str(info.nodata)),
        ("crs", f"{info.crs_name}" + (f" (EPSG:{info.epsg})" if info.epsg else "")),
        ("transform", ", ".join(f"{v:.10g}" for v in info.transform)),
        ("georeferencing", info.georeferencing.value),
        (
            "footprint",
            f"{info.footprint.geom_type}, lon {bounds[0]:.6f}..{bounds[2]:.6f}, "
            f"lat {bounds[1]:.6f}..{bounds[3]:.6f} (EPSG:4326)",
        ),
        ("gsd", f"{info.gsd_m[0]:.3f} m x {info.gsd_m[1]:.3f} m"),
        ("acquired", data["acquired_at"] or "not recorded in the file"),
        ("sensor", info.sensor or "not recorded in the file"),
        ("marking", data["marking"] or "none in the file (give one with --marking at ingest)"),
    ]
    if info.stretch:
        ranges = zip(info.stretch.low, info.stretch.high, strict=True)
        stretch = ", ".join(f"{low:.6g}..{high:.6g}" for low, high in ranges)
        rows.append(("display", f"bands {list(info.stretch.bands)}, 2-98% stretch {stretch}"))
    for name, value in rows:
        table.add_row(name, value)
    stdout.print(table)


@app.command()
def inspect(
    image: Annotated[Path, typer.Argument(help="GeoTIFF/COG, NITF or JPEG 2000 file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Describe an image: size, bands, CRS, footprint, ground sample distance, acquisition, marking."""
    settings = load_settings()
    info = inspect_image(image, registry_for(settings))
    if as_json:
        sys.stdout.write(orjson.dumps(info.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_info(info)


@app.command()
def tile(
    image: Annotated[Path, typer.Argument(help="Image to cut into chips.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for chips/, previews/ and index.parquet.")],
    size: Annotated[int, typer.Option(min=16, max=8192, help="Chip width and height in pixels.")] = 512,
    overlap: Annotated[int, typer.Option(min=0, help="Pixels shared by neighbouring chips.")] = 64,
    min_valid: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Skip chips with a smaller fraction of valid pixels.")
    ] = 0.0,
    scheduler: Annotated[
        str | None, typer.Option(help="dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 (shared --out).")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local workers (default: all cores).")] = None,
    processes: Annotated[bool, typer.Option(help="Local worker processes instead of threads.")] = False,
    compress: Annotated[Compression, typer.Option(help="Chip compression.")] = Compression.ZSTD,
    marking: Annotated[
        str | None,
        typer.Option(help="Marking of the imagery (banner form); may raise, never lower, the file's."),
    ] = None,
) -> None:
    """Cut an image into overlapping COG chips with JPEG previews and a GeoParquet index (resumable)."""
    if overlap >= size:
        raise CliError(f"--overlap ({overlap}) must be smaller than --size ({size})")
    settings = load_settings()
    registry = registry_for(settings)
    info = inspect_image(image, registry, statistics=False)
    requested = parse_marking(marking, registry) if marking else None
    held_at = image_marking(info.marking, requested, registry)
    params = TileParameters(size=size, overlap=overlap, min_valid=min_valid, compression=compress)
    choice = SchedulerChoice(
        address=scheduler, workers=workers, local_mode=LocalMode.PROCESSES if processes else LocalMode.THREADS
    )
    with chip_progress(f"tiling {image.name}") as progress:
        summary = tile_image(
            image,
            out,
            params,
            scheduler=choice,
            marking=held_at.banner() if held_at else None,
            info=info,
            on_start=progress.start,
            on_progress=progress.advance,
        )
    banner = f" [{held_at.banner()}]" if held_at else ""
    stdout.print(f"tiled {image.name}{banner}: {summary.describe()}")


@app.command("sample-scene")
def sample_scene(
    out: Annotated[Path, typer.Argument(help="File to write (.tif, or .ntf with --nitf).")],
    size: Annotated[int, typer.Option(min=64, max=20000, help="Width and height in pixels.")] = 4096,
    nitf: Annotated[bool, typer.Option(help="Write a NITF 2.1 with security header fields.")] = False,
    marking: Annotated[str, typer.Option(help="Marking for the NITF security fields.")] = "UNCLASSIFIED",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same pixels.")] = 0,
) -> None:
    """Write a synthetic 4-band 16-bit scene (realistic texture and noise) to try GeoLabel without imagery."""
    settings = load_settings()
    fields = nitf_security_fields(parse_marking(marking, registry_for(settings))) if nitf else None
    written = write_scene(out, sample_scene_spec(size, nitf_fields=fields, seed=seed))
    stdout.print(f"wrote {written} ({size} x {size}, 4 bands, uint16{', ' + marking if nitf else ''})")
