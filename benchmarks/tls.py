"""TLS with client certificates (issue 15): what `geo-label serve` serving HTTPS itself, client certificates
required and verified, costs a request, against plain HTTP, in the same run.

Two servers on the benchmark's database (one process each): plain HTTP, and HTTPS with a throwaway CA's
server certificate and a client CA (every connection presents a client certificate). Measured with httpx:
``GET /api/v1/health`` on one kept-alive connection (``kept``), and on a new connection each time, the TLS
handshake included (``new``); p50 of ``--requests`` each. Prints the ratios TLS / plain.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks._common import remove_folder, run_report, scratch_folder
from benchmarks.service import child_env, geo_label_command
from benchmarks.workflow import workflow_database
from tests.pki import issue, name, write


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[int]:
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [*geo_label_command(), "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"geo-label serve exited: see {log}")
                with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"geo-label serve did not come up: see {log}")
                time.sleep(0.2)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def p50_ms(base: str, requests: int, *, kept: bool, verify: ssl.SSLContext | bool) -> float:
    times = []
    with httpx.Client(base_url=base, verify=verify, timeout=10) as client:
        client.get("/api/v1/health")  # warm: imports, the first connection
        for _ in range(requests):
            started = time.perf_counter()
            if kept:
                client.get("/api/v1/health")
            else:
                with httpx.Client(base_url=base, verify=verify, timeout=10) as fresh:
                    fresh.get("/api/v1/health")
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(args: argparse.Namespace) -> None:
    scratch = scratch_folder("tls")
    try:
        ca = issue(name("GeoLabel Benchmark CA"), None, ca=True)
        ca_pem, _ = write(scratch, "ca", ca)
        server_cert, server_key = write(scratch, "server", issue(name("127.0.0.1"), ca, server=True))
        client_cert, client_key = write(scratch, "client", issue(name("benchmark client"), ca))
        client_context = ssl.create_default_context(cafile=str(ca_pem))
        client_context.load_cert_chain(str(client_cert), str(client_key))
        with workflow_database(keep=False, needed=10) as bench:
            env = child_env(bench, scratch, os.urandom(32).hex())
            tls_env = {
                **env,
                "GEO_LABEL_TLS_CERT": str(server_cert),
                "GEO_LABEL_TLS_KEY": str(server_key),
                "GEO_LABEL_TLS_CLIENT_CA": str(ca_pem),
            }
            figures = {}
            with serving(env, scratch / "plain.log") as plain, serving(tls_env, scratch / "tls.log") as tls:
                for kept in (True, False):
                    label = "kept" if kept else "new"
                    http = p50_ms(f"http://127.0.0.1:{plain}", args.requests, kept=kept, verify=False)
                    https = p50_ms(
                        f"https://127.0.0.1:{tls}", args.requests, kept=kept, verify=client_context
                    )
                    figures[label] = (http, https)
        for label, (http, https) in figures.items():
            print(
                f"  {label:5} connection: plain {http:6.2f} ms, TLS {https:6.2f} ms p50 "
                f"-> TLS/plain {https / http:.2f}"
            )
    finally:
        remove_folder(scratch)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    return run_report("GeoLabel TLS benchmark (issue 15)", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
