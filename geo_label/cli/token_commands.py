"""`geo-label tokens`: read-only access tokens for QGIS, GDAL and scripts, made by the host's operator for
an account (users make their own in the web UI or through the API)."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from geo_label import access_tokens
from geo_label.cli.common import app
from geo_label.cli.service_commands import as_operator, as_utc
from geo_label.console import stdout
from geo_label.settings import load_settings

tokens_app = typer.Typer(help="Read-only access tokens (QGIS, GDAL, scripts).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="The account the token reads as.")],
    label: Annotated[str, typer.Option(help="What the token is for, e.g. 'QGIS on ws-042'.")],
    expires: Annotated[
        datetime | None,
        typer.Option(help="Expiry (UTC); default and longest: GEO_LABEL_ACCESS_TOKEN_MAX_DAYS."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Make a read-only token for USER: the HTTP Basic password, with USER as the user name, for QGIS and
    GDAL. It is printed once and stored only as a hash."""
    settings = load_settings()
    with as_operator() as session:
        issued = access_tokens.create_token(
            session,
            session.info["caller"],
            username=user,
            label=label,
            expires_at=as_utc(expires),
            max_days=settings.access_token_max_days,
        )
    if as_json:
        print_json(
            {"id": issued.id, "token": issued.token, "label": issued.label, "expires": issued.expires_at}
        )
        return
    stdout.print(
        f"token {issued.id} for {user}, expires {issued.expires_at:%Y-%m-%d %H:%M} UTC:", markup=False
    )
    stdout.print(issued.token, markup=False)


@tokens_app.command("list")
def tokens_list(user: str, as_json: AsJson = False) -> None:
    """USER's tokens, newest first (never their secrets)."""
    with as_operator() as session:
        rows = access_tokens.list_tokens(session, session.info["caller"], username=user)
    now = datetime.now(UTC)
    items = [access_tokens.describe(r, now) for r in rows]
    if as_json:
        print_json(items)
        return
    for item in items:
        used = f"{item['last_used_at']:%Y-%m-%d %H:%M}" if item["last_used_at"] else "never"
        expiry = f"{item['expires']:%Y-%m-%d}"
        stdout.print(
            f"{item['id']}\t{item['state']}\texpires {expiry}\tused {used}\t{item['label']}", markup=False
        )


@tokens_app.command("revoke")
def tokens_revoke(user: str, token_id: uuid.UUID) -> None:
    """Revoke one of USER's tokens: refused from the next request."""
    with as_operator() as session:
        live = access_tokens.revoke_token(session, session.info["caller"], token_id, username=user)
    stdout.print(f"token {token_id} {'revoked' if live else 'was already revoked'}", markup=False)
