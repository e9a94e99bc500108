"""Training datasets as a downloadable tar archive (the folder `geo-label dataset export` writes)."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import ContextDep, StateDep
from api.errors import NO_STORE
from geo_label.datasets.export import export_dataset
from geo_label.datasets.formats import DatasetFormat, DatasetImages
from geo_label.datasets.splits import DEFAULT_BLOCK, SplitPlan, parse_fractions

router = APIRouter(tags=["datasets"])


class _Sink:
    """A write-only file that hands over what was written so far."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tar_stream(folder: Path, name: str, scratch: Path) -> Iterator[bytes]:
    """``folder`` as an uncompressed tar stream under the top-level ``name``, one member at a time (memory
    bounded by the largest file); ``scratch`` is removed at the end, whatever happens."""
    sink = _Sink()
    try:
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
            for path in [folder, *sorted(folder.rglob("*"))]:
                relative = path.relative_to(folder)
                arcname = name if relative == Path(".") else f"{name}/{relative}"
                archive.add(path, arcname=arcname, recursive=False, filter=_anonymous)
                if chunk := sink.take():
                    yield chunk
        yield sink.take()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@router.get("/projects/{project_id}/dataset")
def dataset(
    ctx: ContextDep,
    state: StateDep,
    project_id: uuid.UUID,
    fmt: Annotated[list[DatasetFormat], Query(alias="format", description="stac, coco, masks, yolo")],
    recipient: Annotated[str | None, Query(description="Partner nation the dataset is for, e.g. GBR")] = None,
    split: Annotated[str, Query(description="Shares of train, val, test")] = "0.8,0.1,0.1",
    split_seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    split_block: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_BLOCK,
    status: Annotated[list[str] | None, Query(description="Only labels in these statuses")] = None,
    images: Annotated[DatasetImages, Query(description="cog or preview")] = DatasetImages.COG,
) -> StreamingResponse:
    """A training dataset of everything in the project the caller may read (and, with a recipient, that is
    releasable to it), as a tar archive of the folder `geo-label dataset export` writes; the banner is also
    sent as X-GeoLabel-Banner."""
    plan = SplitPlan(fractions=parse_fractions(split), seed=split_seed, block=split_block)
    # Built on the protected data volume (classified content), inside the request's transaction.
    scratch = Path(tempfile.mkdtemp(prefix="dataset-", dir=state.settings.spool_dir))
    name = f"dataset-{project_id}"
    try:
        summary = export_dataset(
            ctx.session,
            ctx.caller,
            project_id=project_id,
            out=scratch / name,
            registry=ctx.registry,
            formats=tuple(fmt),
            plan=plan,
            statuses=tuple(status or ()),
            recipient=recipient,
            images=images,
        )
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{name}.tar"',
        "X-GeoLabel-Banner": summary.banner.banner(),
        "X-GeoLabel-Label-Count": str(summary.labels),
    }
    return StreamingResponse(
        tar_stream(scratch / name, name, scratch), media_type="application/x-tar", headers=headers
    )
