"""Sign-in benchmark: does a flood of sign-ins starve the users already signed in?

The real server (``geo-label serve``, argon2id at 64 MiB, as deployed) on an empty database with 33 accounts.
Measured, each as p50 and p95 of ``GET /api/v1/me`` by one signed-in user:

(a) idle: nothing else happens;
(b) flood: 32 threads sign in (correct passwords, so the per-source throttle never slows them) in a loop, as
    fast as the server answers, each from a loopback address of its own.

The goal is p50(b) / p50(a) < 3: password checks hold no database connection and run in a pool of about the
core count; a sign-in finding it full is answered 429 at once. Also printed: sign-ins per second, how many
were answered 429, and the server's peak resident memory (it grew to 1.3 GB under 32 parallel argon2 checks
before the pool).

A report, not a test: it exits 0 whatever the figures, non-zero only when a step itself fails.
Run: ``.venv/bin/python benchmarks/signin.py [--seconds S]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from access_control import default_registry  # noqa: E402
from benchmarks._common import BENCH_AUDIT_KEY, run_report, scratch_folder  # noqa: E402
from benchmarks.service import api_server, bench_database, child_env, peak_rss_mb  # noqa: E402
from geo_label import users  # noqa: E402
from geo_label.db.engine import Database  # noqa: E402
from geo_label.db.runtime import system_session  # noqa: E402
from geo_label.security.passwords import hasher_for  # noqa: E402
from geo_label.settings import PasswordScheme  # noqa: E402

FLOOD = 32
PASSWORD = "a long benchmark passphrase, 2026"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def make_accounts(database: Database) -> list[str]:
    registry = default_registry()
    password_hash = hasher_for(PasswordScheme.ARGON2ID).hash(PASSWORD)
    names = [f"bench-signin-{i:02d}" for i in range(FLOOD + 1)]
    with system_session(database, registry) as session:
        clearance = users.Clearance.parse("UNCLASSIFIED", citizenship="USA", registry=registry)
        for name in names:
            users.create_user(
                session,
                session.info["caller"],
                username=name,
                password_hash=password_hash,
                clearance=clearance,
            )
    return names


def sign_in(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})


def me_timings(client: httpx.Client, seconds: float) -> list[float]:
    timings = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        response = client.get("/api/v1/me")
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"/me answered {response.status_code}: {response.text}")
    return timings


def server_pid(base: str) -> int | None:
    port = base.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmdline and port.encode() in cmdline:
                return int(proc.name)
    return None


def run(args: argparse.Namespace) -> None:
    with bench_database(keep=False) as bench:
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY, pool_size=2)
        try:
            names = make_accounts(database)
        finally:
            database.dispose()
        scratch = scratch_folder("signin")
        env = child_env(bench, scratch, secrets.token_hex(32))
        env.pop("GEO_LABEL_PASSWORD_SCHEME", None)
        with api_server(env, scratch / "serve.log") as base:
            reader = httpx.Client(base_url=base, timeout=60)
            token = sign_in(reader, names[0]).json()["access_token"]
            reader.headers["Authorization"] = f"Bearer {token}"
            me_timings(reader, 1.0)  # warm up
            idle = me_timings(reader, args.seconds)

            stop = threading.Event()
            outcomes: dict[int, int] = {}
            lock = threading.Lock()
            peak = [0.0]
            pid = server_pid(base)

            def flood(index: int) -> None:
                transport = httpx.HTTPTransport(local_address=f"127.0.1.{index + 1}")
                with httpx.Client(base_url=base, timeout=60, transport=transport) as client:
                    while not stop.is_set():
                        code = sign_in(client, names[1 + index]).status_code
                        with lock:
                            outcomes[code] = outcomes.get(code, 0) + 1

            threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(FLOOD)]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            started = time.perf_counter()

            def watch_memory() -> None:
                while not stop.is_set() and pid is not None:
                    peak[0] = max(peak[0], peak_rss_mb(pid) or 0.0)
                    time.sleep(0.2)

            watcher = threading.Thread(target=watch_memory, daemon=True)
            watcher.start()
            flooded = me_timings(reader, args.seconds)
            elapsed = time.perf_counter() - started
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            reader.close()

    a50, a95 = statistics.median(idle), percentile(idle, 0.95)
    b50, b95 = statistics.median(flooded), percentile(flooded, 0.95)
    total = sum(outcomes.values())
    print("\n  case  what                                        requests   p50 ms   p95 ms")
    print(f"  (a)   GET /me, idle server                        {len(idle):8d} {a50:8.1f} {a95:8.1f}")
    print(f"  (b)   GET /me during a {FLOOD}-way sign-in flood       {len(flooded):8d} {b50:8.1f} {b95:8.1f}")
    print(f"  p50 (b)/(a)  {b50 / a50:.2f}   goal < 3: {'met' if b50 / a50 < 3 else 'not met'}")
    print(
        f"  flood  {total} sign-ins in about {elapsed:.0f} s: "
        + ", ".join(f"{count} x {code}" for code, count in sorted(outcomes.items()))
    )
    if peak[0]:
        print(f"  server peak RSS during the flood  {peak[0]:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each case measures")
    args = parser.parse_args()
    return run_report("GeoLabel sign-in benchmark", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
