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
    service = subprocess.Popen(
        [str(GEO_LABEL), "serve", "--port", str(port)],
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
