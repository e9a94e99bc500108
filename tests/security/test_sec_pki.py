"""Issue 15: sign-in with X.509 client certificates (PKI smart cards). `geo-label serve` serves TLS itself,
requires client certificates from the configured CA and refuses revoked (CRL), expired and foreign ones; the
subject of a good one names its account. Behind a reverse proxy, the verified subject is believed only from a
trusted proxy. A throwaway CA is made here with `cryptography`."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from starlette.requests import Request

from access_control import default_registry
from api.http_protocol import PEER_EXTENSION
from api.routes.auth import verified_subject
from geo_label import users
from geo_label.settings import Settings
from tests.pg import TestDatabase
from tests.pki import NOW, issue, name, write
from tests.world import password_hash, unique

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Pki:
    folder: Path
    ca: Path
    crl: Path
    server: tuple[Path, Path]
    clients: dict[str, tuple[Path, Path]]
    subjects: dict[str, str]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = issue(name("GeoLabel Test CA"), None, ca=True)
    other_ca = issue(name("Someone Else's CA"), None, ca=True)
    people = {
        "good": issue(name(unique("alice")), ca),
        "revoked": issue(name(unique("rex")), ca),
        "expired": issue(name(unique("old")), ca, not_after=NOW - dt.timedelta(days=1)),
        "foreign": issue(name(unique("mallory")), other_ca),
        "unlinked": issue(name(unique("nobody")), ca),
    }
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=7))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(people["revoked"].cert.serial_number)
            .revocation_date(NOW - dt.timedelta(minutes=30))
            .build()
        )
        .sign(ca.key, hashes.SHA256())
    )
    (folder / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    ca_pem, _ = write(folder, "ca", ca)
    return Pki(
        folder=folder,
        ca=ca_pem,
        crl=folder / "crl.pem",
        server=write(folder, "server", issue(name("127.0.0.1"), ca, server=True)),
        clients={label: write(folder, label, issued) for label, issued in people.items()},
        subjects={label: issued.cert.subject.rfc4514_string() for label, issued in people.items()},
    )


@pytest.fixture(scope="module")
def accounts(test_db: TestDatabase, pki: Pki) -> dict[str, str]:
    """Accounts linked to the good, revoked, expired and foreign certificates' subjects."""
    made = {}
    with test_db.as_system() as session:
        for label in ("good", "revoked", "expired", "foreign"):
            username = unique(f"pki-{label}")
            users.create_user(
                session,
                session.info["caller"],
                username=username,
                password_hash=password_hash(),
                clearance=users.Clearance.parse("SECRET", citizenship="USA", registry=default_registry()),
                certificate_subject=pki.subjects[label],
            )
            made[label] = username
    return made


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(test_db: TestDatabase, tmp_path: Path, **settings: str) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env.update(
        GEO_LABEL_DATABASE_URL=test_db.owner_url,
        GEO_LABEL_AUDIT_KEY=test_db.database.audit_key.decode(),
        GEO_LABEL_DATA_DIR=str(tmp_path),
        GEO_LABEL_WORKERS="1",
        **settings,
    )
    log = (tmp_path / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "geo_label", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()
        log.close()


def sign_in_with(port: int, pki: Pki, label: str | None) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if label is not None:
        cert, key = pki.clients[label]
        context.load_cert_chain(str(cert), str(key))
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=10) as client:
        return client.post("/api/v1/auth/certificate")


def test_client_certificates_sign_in_and_bad_ones_are_refused_by_tls(
    test_db: TestDatabase, pki: Pki, accounts: dict[str, str], tmp_path: Path
) -> None:
    cert, key = pki.server
    with serving(
        test_db,
        tmp_path,
        GEO_LABEL_TLS_CERT=str(cert),
        GEO_LABEL_TLS_KEY=str(key),
        GEO_LABEL_TLS_CLIENT_CA=str(pki.ca),
        GEO_LABEL_TLS_CRL=str(pki.crl),
    ) as port:
        good = sign_in_with(port, pki, "good")
        assert good.status_code == 200, good.text
        bearer = {"Authorization": f"Bearer {good.json()['access_token']}"}
        context = ssl.create_default_context(cafile=str(pki.ca))
        context.load_cert_chain(*(str(p) for p in pki.clients["good"]))
        me = httpx.get(f"https://127.0.0.1:{port}/api/v1/me", headers=bearer, verify=context, timeout=10)
        assert me.json()["username"] == accounts["good"]

        unlinked = sign_in_with(port, pki, "unlinked")
        assert unlinked.status_code == 401 and "not linked" in unlinked.json()["detail"]
        for label in ("revoked", "expired", "foreign", None):  # the handshake itself fails
            with pytest.raises(httpx.HTTPError):
                sign_in_with(port, pki, label)


def test_a_proxys_verified_subject_is_believed_from_a_trusted_proxy_only(
    test_db: TestDatabase, pki: Pki, accounts: dict[str, str], tmp_path: Path
) -> None:
    header = "X-SSL-Client-S-DN"
    with serving(test_db, tmp_path, GEO_LABEL_CERTIFICATE_SUBJECT_HEADER=header) as port:
        # 127.0.0.1 is a trusted proxy by default (GEO_LABEL_TRUSTED_PROXIES).
        through_proxy = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/certificate", headers={header: pki.subjects["good"]}
        )
        assert through_proxy.status_code == 200, through_proxy.text
        alone = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/certificate")
        assert alone.status_code == 401
    # A connection that is not a trusted proxy's is not believed, whatever header it sends.
    settings = Settings(certificate_subject_header=header, trusted_proxies=["10.1.2.3"])
    for peer in ("127.0.0.1", None):
        scope = {
            "type": "http",
            "headers": [(header.lower().encode(), pki.subjects["good"].encode())],
            "extensions": {PEER_EXTENSION: peer} if peer else {},
        }
        assert verified_subject(Request(scope), settings) is None


def test_the_sign_in_page_signs_in_with_the_browsers_certificate(
    test_db: TestDatabase, pki: Pki, accounts: dict[str, str], tmp_path: Path
) -> None:
    """In Chromium presenting the good certificate: after the notice, one button signs in."""
    from playwright.sync_api import sync_playwright

    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

    cert, key = pki.server
    with (
        serving(
            test_db,
            tmp_path,
            GEO_LABEL_TLS_CERT=str(cert),
            GEO_LABEL_TLS_KEY=str(key),
            GEO_LABEL_TLS_CLIENT_CA=str(pki.ca),
        ) as port,
        sync_playwright() as playwright,
    ):
        origin = f"https://127.0.0.1:{port}"
        client_cert, client_key = pki.clients["good"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                ignore_https_errors=True,  # the throwaway CA is not in Chromium's store
                client_certificates=[
                    {"origin": origin, "certPath": str(client_cert), "keyPath": str(client_key)}
                ],
            )
            page = context.new_page()
            page.goto(f"{origin}/#/signin")
            page.click("#consent-accept")
            page.click("#certificate-sign-in")
            page.wait_for_selector("h1:has-text('My queue')")
            assert accounts["good"] in page.inner_text("#nav")
        finally:
            browser.close()
