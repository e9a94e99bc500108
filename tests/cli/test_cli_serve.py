"""`geo-label serve` as a service manager runs it: SIGTERM (systemctl stop) ends it cleanly, and the embedded
PostgreSQL it started is stopped too. Regression: uvicorn raises SIGTERM again after its graceful shutdown,
and the default handler killed the process before it could stop the database, which was left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

from geo_label.db.embedded import EmbeddedCluster

GEO_LABEL = Path(sys.executable).parent / "geo-label"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_sigterm_stops_the_service_and_its_embedded_database(embedded_data_dir: Path) -> None:
    data_dir = embedded_data_dir
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["GEO_LABEL_DATA_DIR"] = str(data_dir)
    env["GEO_LABEL_PORT"] = str(port)  # as the systemd unit gives it, from /etc/geolabel/geolabel.env
    service = subprocess.Popen(
        [str(GEO_LABEL), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert service.poll() is None, service.communicate()
            with suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500:
                    break
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.2)
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        # Regression (issue 21): with several processes uvicorn's own listening socket left Nagle's algorithm
        # on, and every small response on a kept-alive connection waited 40 ms for a delayed ACK.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            times = []
            for _ in range(15):
                started = time.perf_counter()
                assert client.get("/api/v1/health").status_code == 200
                times.append(time.perf_counter() - started)
        assert sorted(times)[len(times) // 2] < 0.025, times
        cluster = EmbeddedCluster(data_dir / "postgres")
        assert cluster.is_running()
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=60)
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert not cluster.is_running(), "the embedded database was left running"


def test_init_prepares_keys_and_database_and_changes_nothing_when_repeated(embedded_data_dir: Path) -> None:
    """What `install` runs: keys and schema on the first run; the same keys (never replaced) on the next."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["GEO_LABEL_DATA_DIR"] = str(embedded_data_dir)
    keys = [embedded_data_dir / "token-signing.key", embedded_data_dir / "audit-seal.key"]
    first = subprocess.run([str(GEO_LABEL), "init"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("ready: ")
    before = [key.read_bytes() for key in keys]
    again = subprocess.run([str(GEO_LABEL), "init"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert [key.read_bytes() for key in keys] == before
    assert not EmbeddedCluster(embedded_data_dir / "postgres").is_running()
