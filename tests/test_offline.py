"""Nothing reaches the network at run time: the CLI works in an empty network namespace and, traced, never
even tries to connect anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (CI runs as root)")


def offline(command: list[str], trace: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with no network interface up, tracing every connect() of every thread and child."""
    for tool in ("unshare", "strace"):
        assert shutil.which(tool), f"{tool} is needed for this test; `make test` installs it"
    traced = [
        "unshare",
        "--net",
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=connect,sendto,sendmsg",
        "-o",
        str(trace),
    ]
    return subprocess.run([*traced, *command], capture_output=True, text=True, timeout=300)


def inet_calls(trace: Path) -> list[str]:
    lines = trace.read_text().splitlines()
    return [line for line in lines if "AF_INET" in line]


def test_inspect_and_tile_never_touch_the_network(utm_image: Path, tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "geo_label"]
    inspected = offline([*cli, "inspect", str(utm_image), "--json"], tmp_path / "inspect.trace")
    assert inspected.returncode == 0, inspected.stderr
    assert '"EPSG:4326"' not in inspected.stderr
    tiled = offline(
        [*cli, "tile", str(utm_image), "--out", str(tmp_path / "out"), "--size", "256"],
        tmp_path / "tile.trace",
    )
    assert tiled.returncode == 0, tiled.stderr
    assert (tmp_path / "out" / "index.parquet").exists()
    assert inet_calls(tmp_path / "inspect.trace") == []
    assert inet_calls(tmp_path / "tile.trace") == []


def test_proj_network_is_off_in_every_process() -> None:
    code = (
        "import imagery, os, pyproj.network as n; print(os.environ['PROJ_NETWORK'], n.is_network_enabled())"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROJ_NETWORK"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["OFF", "False"]


def test_fastapi_telemetry_stays_off_even_when_the_environment_asks_for_it() -> None:
    """FastAPI's built-in OpenTelemetry would add OTLP exporters under FASTAPI_OTEL_AUTO_CONFIGURE=true."""
    code = (
        "from pathlib import Path; from unittest.mock import Mock; from pydantic import SecretStr;"
        "from api.app import build_state, create_app; from geo_label.settings import Settings;"
        "s = Settings(data_dir=Path('.'), token_signing_key=SecretStr('k' * 48));"
        "app = create_app(build_state(s, Mock(connections=4)));"
        "print(app._native_telemetry.enabled(), app._telemetry['auto_configure'])"
    )
    env = {
        **os.environ,
        "FASTAPI_OTEL_AUTO_CONFIGURE": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://10.0.0.1",
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["False", "False"]
