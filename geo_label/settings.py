"""One settings object, from the environment (prefix ``GEO_LABEL_``), validated at start-up."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SIGNING_KEY_BYTES = 32


class PasswordScheme(StrEnum):
    ARGON2ID = "argon2id"
    PBKDF2_SHA256 = "pbkdf2-sha256"  # for FIPS 140 deployments


#: The notice-and-consent banner's text unless configured (GEO_LABEL_CONSENT_NOTICE): a site puts its own
#: (for a U.S. Government system, the standard mandatory notice) in its place.
DEFAULT_CONSENT_NOTICE = (
    "You are accessing an information system provided for authorized use only. By using it (which includes "
    "any device attached to it) you consent to the following: communications and data on this system are "
    "routinely monitored, intercepted and searched, may be disclosed or used for any authorized purpose, "
    "and are not private."
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEO_LABEL_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Chips, previews and the embedded database.")
    database_url: str | None = Field(
        default=None,
        description="postgresql+psycopg://... of an existing PostGIS; unset: GeoLabel runs its own private "
        "PostgreSQL under data_dir.",
    )
    marking_registry: Path | None = Field(
        default=None,
        description="TOML file of SCI controls, countries, tetragraphs and the accredited maximum marking; "
        "the built-in registry when unset.",
    )
    token_signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC key for access tokens (at least 32 bytes); unset: a random key is generated once "
        "and kept in data_dir/token-signing.key (mode 0600).",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="HMAC key sealing every audit record (at least 32 bytes); unset: a random key is "
        "generated once and kept in data_dir/audit-seal.key (mode 0600). The database never holds it.",
    )
    audit_forward: str | None = Field(
        default=None,
        pattern=r"^(syslog|file):.+",
        description="Where every audit record is also sent as a JSON line, for a log collector: "
        "syslog:/dev/log (RFC 5424 to a local syslog socket) or file:/var/log/geo-label/audit.jsonl (rotated "
        "at 64 MB, five kept). A target that is down gets every record when it is back.",
    )
    audit_forward_seconds: float = Field(
        default=5, gt=0, le=3600, description="How often each serving process forwards new audit records."
    )
    consent_notice: str = Field(
        default=DEFAULT_CONSENT_NOTICE,
        min_length=1,
        max_length=8000,
        description="The notice-and-consent banner shown before sign-in, which a person accepts before they "
        "may sign in (the system use notification accreditors check first).",
    )
    token_minutes: float = Field(
        default=5,
        gt=0,
        le=24 * 60,
        description="Lifetime of an access token; the UI renews it while the session lives.",
    )
    idle_minutes: float = Field(
        default=15, gt=0, le=24 * 60, description="A session ends after this long without user input."
    )
    admin_idle_minutes: float = Field(
        default=10, gt=0, le=24 * 60, description="The same for admins and security officers."
    )
    session_hours: float = Field(
        default=12, gt=0, le=24 * 7, description="A session ends this long after sign-in."
    )
    access_token_max_days: int = Field(
        default=90,
        ge=1,
        le=366,
        description="The longest a read-only access token (for QGIS, GDAL, scripts) may live; a token made "
        "without an expiry lives this long.",
    )
    password_scheme: PasswordScheme = PasswordScheme.ARGON2ID
    lockout_attempts: int = Field(
        default=3, ge=1, description="Failed sign-ins in a row (each within the window) before a lock-out."
    )
    lockout_window_minutes: float = Field(
        default=15, gt=0, description="Failures further apart than this start the count anew."
    )
    lockout_minutes: float = Field(
        default=15,
        gt=0,
        description="How long a locked account stays locked (or until an officer unlocks it).",
    )
    password_checks: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) - 1),
        ge=1,
        description="Password checks run at once (each argon2id check is a core for ~0.1 s), one core left "
        "for everything else; a sign-in that finds none free within a second is answered 429.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Processes `geo-label serve` runs (default: the core count). They share everything "
        "through the database, as several hosts behind one proxy do.",
    )
    database_connections: int | None = Field(
        default=None,
        ge=2,
        description="Database connections the service's requests use at once, over all its processes (each "
        "gets an equal share, at least 2; prediction imports and exports use 2 more per process). Unset: 4 "
        "per process: with more, requests wait on each other (the GIL, locks) and fewer are served a second "
        "(benchmarks/scale.py).",
    )
    oidc_jwks_file: Path | None = Field(default=None, description="JWKS of the on-premises OIDC provider.")
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_username_claim: str = "preferred_username"
    public_url: str | None = Field(
        default=None,
        description="The address users reach GeoLabel at (e.g. https://geolabel.example.mil): absolute links "
        "are built from it and requests for other hosts are refused; unset: `geo-label serve` uses its bind "
        "address.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names accepted besides the public URL's and localhost (JSON list).",
    )
    tls_cert: Path | None = Field(
        default=None, description="Serve HTTPS with this certificate (PEM; with GEO_LABEL_TLS_KEY)."
    )
    tls_key: Path | None = Field(default=None, description="The private key of GEO_LABEL_TLS_CERT (PEM).")
    tls_client_ca: Path | None = Field(
        default=None,
        description="Require client certificates (PKI smart cards) issued by these CAs (PEM bundle); each "
        "account is linked to its holder's certificate subject (users add --certificate-subject).",
    )
    tls_crl: Path | None = Field(
        default=None,
        description="Refuse client certificates this CRL (PEM) revokes (with GEO_LABEL_TLS_CLIENT_CA).",
    )
    certificate_subject_header: str | None = Field(
        default=None,
        description="Behind a reverse proxy that terminates TLS and verifies client certificates: the header "
        "in which it passes the verified subject (RFC 4514), e.g. X-SSL-Client-S-DN; believed only from "
        "GEO_LABEL_TRUSTED_PROXIES.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Addresses (or networks) of reverse proxies whose X-Forwarded-For names the client (JSON "
        "list): sign-in throttling counts failures by the client's address.",
    )
    service_group: str | None = Field(
        default=None,
        description="A group whose members may read what GeoLabel writes (files 0640, folders 0750, the "
        "data directory owned by that group); unset: the service account's alone (0600, 0700).",
    )
    prediction_upload_mb: int = Field(
        default=4096,
        ge=1,
        description="The largest prediction file the API takes (streamed to the data volume, then imported).",
    )
    debug: bool = Field(default=False, description="Show tracebacks of internal errors on the CLI.")

    @property
    def spool_dir(self) -> Path:
        """Temporary files holding marked content (export spools): on the data volume, mode 0700."""
        path = self.data_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    @field_validator("public_url")
    @classmethod
    def absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("GEO_LABEL_PUBLIC_URL must be http(s)://HOST[:PORT] with no path")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def accepted_hosts(self) -> list[str]:
        """The Host header values requests may carry: the public URL's host, localhost, and the setting's."""
        hosts = {"localhost", "127.0.0.1", "::1", *self.allowed_hosts}
        if self.public_url:
            hosts.add(urlsplit(self.public_url).hostname or "")
        return sorted(h for h in hosts if h)

    @field_validator("token_signing_key", "audit_key")
    @classmethod
    def strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"a key must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        return value


def load_settings() -> Settings:
    return Settings()
