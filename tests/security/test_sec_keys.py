"""The audit seal key: its own file beside the token signing key, 0600, or the setting."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from geo_label.security.errors import SecurityConfigError
from geo_label.security.keys import AUDIT_KEY_FILE, load_or_create_audit_key
from geo_label.security.tokens import load_or_create_signing_key
from geo_label.settings import Settings


def test_the_audit_key_is_made_once_owner_only_and_apart_from_the_signing_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = load_or_create_audit_key(settings)
    assert len(key) == 32 and load_or_create_audit_key(settings) == key
    assert stat.S_IMODE((tmp_path / AUDIT_KEY_FILE).stat().st_mode) == 0o600
    assert load_or_create_signing_key(settings) != key


def test_an_audit_key_others_may_read_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    load_or_create_audit_key(settings)
    (tmp_path / AUDIT_KEY_FILE).chmod(0o644)
    with pytest.raises(SecurityConfigError, match="audit seal key"):
        load_or_create_audit_key(settings)


def test_the_setting_gives_the_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, audit_key=SecretStr("a" * 40))
    assert load_or_create_audit_key(settings) == b"a" * 40
    assert not (tmp_path / AUDIT_KEY_FILE).exists()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(data_dir=tmp_path, audit_key=SecretStr("short"))
