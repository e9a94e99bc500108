"""Helpers shared by the benchmarks: the cached reference scene, timed subprocesses, scratch folders.

Everything a benchmark writes lives under ``bench-output/`` at the repository root (git-ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imagery import synthetic
from imagery.synthetic import SceneSpec, write_scene

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-output"
#: The audit seal key of the benchmark databases, shared by the benchmark and the servers it starts.
BENCH_AUDIT_KEY = b"audit-seal-key-of-the-benchmarks-0123456789"


class StepFailedError(Exception):
    """A measured step did not do its job (non-zero exit, missing output); the benchmark exits non-zero."""


def reference_spec(size: int) -> SceneSpec:
    """The benchmark scene: a square, seeded, 4-band uint16 UTM scene with the generator's defaults."""
    return SceneSpec(width=size, height=size, seed=42)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def generator_fingerprint() -> str:
    """SHA-256 of the generator's source: the same spec renders other pixels once the generator changes."""
    return hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()


def _recorded(spec: SceneSpec, path: Path) -> dict[str, Any]:
    """What the sidecar holds for ``spec`` written to ``path``, in its JSON form."""
    record = {"spec": asdict(spec), "generator_sha256": generator_fingerprint(), "bytes": path.stat().st_size}
    loaded: dict[str, Any] = json.loads(json.dumps(record))
    return loaded


def scene_is_current(spec: SceneSpec, path: Path) -> bool:
    """True when ``path`` exists and its sidecar records ``spec``, the current generator and the file's
    current size."""
    try:
        recorded = json.loads(_sidecar(path).read_text())
        return bool(recorded == _recorded(spec, path))
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def ensure_scene(spec: SceneSpec, path: Path) -> bool:
    """Write the scene unless an identical one is cached; returns True when it had to be written.

    The file is written under a temporary name and renamed, and the sidecar is written last, so a killed
    run never leaves a scene that looks current.
    """
    if scene_is_current(spec, path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    _sidecar(path).unlink(missing_ok=True)
    temp = path.with_name(f".{path.name}.partial")
    try:
        write_scene(temp, spec)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _sidecar(path).write_text(json.dumps(_recorded(spec, path), indent=2, sort_keys=True) + "\n")
    return True


def scratch_folder(prefix: str) -> Path:
    """A fresh, empty folder under ``bench-output/``."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=OUTPUT))


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Timing:
    """One measured process: wall time, the CPU time it used, and the CPU time the rest of the machine used
    meanwhile (other processes competing for the cores make the wall time meaningless)."""

    seconds: float
    cpu_seconds: float
    other_cpu_seconds: float

    @property
    def cores(self) -> float:
        return self.cpu_seconds / self.seconds

    @property
    def other_cores(self) -> float:
        return max(0.0, self.other_cpu_seconds / self.seconds)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU time all cores have spent busy since boot (Linux /proc/stat: user nice system idle iowait irq
    softirq steal ...; idle and iowait are not busy)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def timed_run(command: Sequence[str], *, stdin: str | None = None) -> Timing:
    """Run ``command`` as a whole process (with its children) and time it.

    Output is captured (no progress bars, no interleaving with the report) and shown only on failure.
    """
    cpu_before, busy_before = _children_cpu_seconds(), _machine_busy_seconds()
    started = time.perf_counter()
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=REPO, check=False)
    seconds = time.perf_counter() - started
    cpu = _children_cpu_seconds() - cpu_before
    other = _machine_busy_seconds() - busy_before - cpu
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise StepFailedError(f"{command[0]} exited with status {result.returncode}:\n{tail}")
    return Timing(seconds, cpu, other)


def core_count() -> str:
    """Cores this process may use, and the machine's total when that differs."""
    usable = len(os.sched_getaffinity(0))
    total = os.cpu_count() or usable
    return f"{usable}" if usable == total else f"{usable} usable of {total}"


def run_report(title: str, run: Callable[[], None], *, details: Sequence[str] = ()) -> int:
    """A service-side benchmark's frame: its title, the machine, ``run()``, and the time and load at the
    end; exit status 1 (with the reason on stderr) when a step failed, else 0 whatever the figures."""
    print(title)
    for line in details:
        print(f"  {line}")
    print(f"  machine  {core_count()} cores, load {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")
    started = time.perf_counter()
    try:
        run()
    except StepFailedError as exc:
        print(f"benchmark step failed: {exc}", file=sys.stderr)
        return 1
    load = os.getloadavg()
    print(
        f"\ndone in {time.perf_counter() - started:.0f} s; load {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    return 0


def bench_token(owner_url: str, user_id: object, key: str, hours: float = 10.0) -> str:
    """A bearer token for ``user_id`` in a session of its own that lives ``hours`` (benchmarks sign in
    without passwords; a token must name a live session)."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, insert

    from geo_label.db.models import SESSIONS
    from geo_label.security.tokens import issue_access_token

    now = datetime.now(UTC)
    session_id = uuid.uuid4()
    engine = create_engine(owner_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(SESSIONS).values(
                    id=session_id,
                    user_id=user_id,
                    started_at=now,
                    last_activity_at=now,
                    idle_seconds=int(hours * 3600),
                    ends_at=now + timedelta(hours=hours),
                    source="benchmark",
                )
            )
    finally:
        engine.dispose()
    token, _ = issue_access_token(
        user_id=str(user_id), session_id=str(session_id), signing_key=key.encode(), minutes=hours * 60
    )
    return token
