"""Password hashing (both schemes, real crypto), cross-scheme verification, dummy timing, password policy."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

import pytest

from geo_label.errors import InvalidInputError
from geo_label.security.passwords import (
    DUMMY_HASHES,
    Argon2idHasher,
    PasswordHasher,
    Pbkdf2Sha256Hasher,
    check_password_policy,
    hasher_for,
    verify_against_dummy,
    verify_password,
)
from geo_label.settings import PasswordScheme

PASSWORD = "tangerine orbit 42 lantern"

# Low-cost parameters, passed explicitly: the production defaults stay as they are.
FAST_HASHERS: dict[PasswordScheme, Callable[[], PasswordHasher]] = {
    PasswordScheme.ARGON2ID: lambda: Argon2idHasher(time_cost=1, memory_cost=8, parallelism=1),
    PasswordScheme.PBKDF2_SHA256: lambda: Pbkdf2Sha256Hasher(iterations=1_000),
}


@pytest.fixture(params=list(PasswordScheme), ids=str)
def fast(request: pytest.FixtureRequest) -> PasswordHasher:
    scheme: PasswordScheme = request.param
    return FAST_HASHERS[scheme]()


def test_hash_then_verify(fast: PasswordHasher) -> None:
    stored = fast.hash(PASSWORD)
    assert fast.verify(stored, PASSWORD)
    assert verify_password(stored, PASSWORD)


def test_wrong_password_is_false(fast: PasswordHasher) -> None:
    stored = fast.hash(PASSWORD)
    assert not fast.verify(stored, PASSWORD + "x")
    assert not verify_password(stored, "")
    assert not verify_password(stored, PASSWORD.upper())


def test_each_hash_has_its_own_salt(fast: PasswordHasher) -> None:
    assert fast.hash(PASSWORD) != fast.hash(PASSWORD)


def test_stored_formats() -> None:
    assert FAST_HASHERS[PasswordScheme.ARGON2ID]().hash(PASSWORD).startswith("$argon2id$v=19$m=8,t=1,p=1$")
    stored = Pbkdf2Sha256Hasher(iterations=1_000).hash(PASSWORD)
    assert re.fullmatch(r"\$pbkdf2-sha256\$i=1000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", stored)


def test_unicode_is_normalised_before_hashing(fast: PasswordHasher) -> None:
    # U+FB01 (the "fi" ligature) is NFKC-equivalent to "fi"; U+00C5 composed vs A + combining ring.
    stored = fast.hash("ﬁnal \u00c5ngström hill")
    assert verify_password(stored, "final A\u030angström hill")


def test_cross_scheme_verify_keeps_old_accounts_working() -> None:
    argon = FAST_HASHERS[PasswordScheme.ARGON2ID]()
    pbkdf2 = FAST_HASHERS[PasswordScheme.PBKDF2_SHA256]()
    from_argon, from_pbkdf2 = argon.hash(PASSWORD), pbkdf2.hash(PASSWORD)
    assert verify_password(from_argon, PASSWORD)
    assert verify_password(from_pbkdf2, PASSWORD)
    # A hasher's own verify only knows its own format; verify_password knows both.
    assert not argon.verify(from_pbkdf2, PASSWORD)
    assert not pbkdf2.verify(from_argon, PASSWORD)


def test_needs_rehash() -> None:
    argon, pbkdf2 = hasher_for(PasswordScheme.ARGON2ID), hasher_for(PasswordScheme.PBKDF2_SHA256)
    cheap_argon = FAST_HASHERS[PasswordScheme.ARGON2ID]().hash(PASSWORD)
    cheap_pbkdf2 = FAST_HASHERS[PasswordScheme.PBKDF2_SHA256]().hash(PASSWORD)
    # Other parameters or another scheme: upgrade after the next successful login.
    assert argon.needs_rehash(cheap_argon)
    assert argon.needs_rehash(cheap_pbkdf2)
    assert pbkdf2.needs_rehash(cheap_pbkdf2)
    assert pbkdf2.needs_rehash(cheap_argon)
    # The production parameters: nothing to do.
    assert not argon.needs_rehash(DUMMY_HASHES[PasswordScheme.ARGON2ID])
    assert not pbkdf2.needs_rehash(DUMMY_HASHES[PasswordScheme.PBKDF2_SHA256])
    assert argon.needs_rehash(DUMMY_HASHES[PasswordScheme.PBKDF2_SHA256])


def test_hasher_for_gives_the_configured_scheme() -> None:
    for scheme in PasswordScheme:
        assert hasher_for(scheme).scheme is scheme


MALFORMED = [
    "",
    "plain text",
    "$argon2id$",
    "$argon2id$v=19$m=65536,t=3,p=4$notbase64!$alsonot!",
    "$argon2id$v=19$m=65536,t=3,p=4$I3sIW7CjI9olnje1Lkb8Sw",
    "$argon2id$v=19$m=é,t=3,p=4$I3sIW7CjI9olnje1Lkb8Sw$w7p9DekSy8aUD/sIycmREE0wYVH6xfthpDgwVtFDxFE",
    # Absurd costs are refused before any work (4 TiB of memory, 2**32 passes).
    "$argon2id$v=19$m=4294967295,t=3,p=4$I3sIW7CjI9olnje1Lkb8Sw$w7p9DekSy8aUD/sIycmREE0wYVH6xfthpDgwVtFDxFE",
    "$argon2id$v=19$m=65536,t=4294967295,p=4$I3sIW7CjI9olnje1Lkb8Sw$w7p9DekSy8aUD/sIycmREE0wYVH6xfthpDgwVtFDxFE",
    "$pbkdf2-sha256$",
    "$pbkdf2-sha256$i=abc$Td/xcimF3nxnNstqO91HCw$R18rdE0ENvo2TebHYMMKDMc4XlTRQPVCzjW86c9vbiE",
    "$pbkdf2-sha256$i=600000$!!!!$R18rdE0ENvo2TebHYMMKDMc4XlTRQPVCzjW86c9vbiE",
    "$pbkdf2-sha256$i=600000$Td/xcimF3nxnNstqO91HCw",
    "$pbkdf2-sha256$i=600000$Td/xcimF3nxnNstqO91HCw$R18rdE0ENvo2TebHYMMKDMc4XlTRQPVCzjW86c9vbiE$extra",
    "$pbkdf2-sha256$i=99999999999$Td/xcimF3nxnNstqO91HCw$R18rdE0ENvo2TebHYMMKDMc4XlTRQPVCzjW86c9vbiE",
    "$pbkdf2-sha256$i=\u0661\u0660\u0660\u0660$Td/xcimF3nxnNstqO91HCw$R18rdE0ENvo2TebHYMMKDMc4XlTRQPVCzjW86c9vbiE",
    "$pbkdf2-sha256$i=1000$$",
    "$bcrypt$2b$12$abcdefghijklmnopqrstuv",
]


@pytest.mark.parametrize("stored", MALFORMED)
def test_malformed_stored_hash_is_false_and_needs_rehash(stored: str) -> None:
    started = time.perf_counter()
    assert verify_password(stored, PASSWORD) is False
    assert time.perf_counter() - started < 1.0
    for scheme in PasswordScheme:
        assert FAST_HASHERS[scheme]().verify(stored, PASSWORD) is False
        assert FAST_HASHERS[scheme]().needs_rehash(stored) is True


def test_odd_passwords_never_raise(fast: PasswordHasher) -> None:
    stored = fast.hash(PASSWORD)
    assert not verify_password(stored, "lone \ud800 surrogate")
    assert not verify_password(stored, "x" * 100_000)
    assert not verify_password(stored, "nul\x00byte")


@pytest.mark.parametrize("scheme", list(PasswordScheme), ids=str)
def test_unknown_user_costs_about_a_real_verification(scheme: PasswordScheme) -> None:
    """No user enumeration by timing: the dummy path and a failed real verification take comparable time."""
    hasher = hasher_for(scheme)  # production parameters: this is what the service will run
    stored = hasher.hash(PASSWORD)
    assert verify_password(stored, PASSWORD)

    def median_seconds(check: Callable[[], object]) -> float:
        durations = []
        for _ in range(3):
            started = time.perf_counter()
            check()
            durations.append(time.perf_counter() - started)
        return statistics.median(durations)

    real = median_seconds(lambda: verify_password(stored, "wrong password 1234"))
    dummy = median_seconds(lambda: verify_against_dummy("wrong password 1234", scheme))
    assert verify_against_dummy(PASSWORD, scheme) is False
    assert real / 3 < dummy < real * 3, (real, dummy)


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("tangerine orbit lantern", "alice"),
        ("Zq8#mLp2!vRt", "bob"),
        ("correct horse battery staple, but mine", "carol"),
        ("al-jabr and the stars", "al"),  # a 2-character username is only refused when equal
        ("ünïcödé pässwörd ok", "dave"),
        ("x" * 200 + "yzw1", "erin"),
    ],
)
def test_policy_accepts(password: str, username: str) -> None:
    check_password_policy(password, username)


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("short pass", "alice", "at least 12 characters"),
        ("elevenchars", "alice", "at least 12 characters"),
        ("a" * 257, "alice", "at most 256 characters"),
        ("analyst.jones", "Analyst.Jones", "must not contain the username"),
        ("my name is ANALYST.JONES ok", "analyst.jones", "must not contain the username"),
        ("aaaaaaaaaaaaaaaa", "alice", "at least 4 different characters"),
        ("abababababababab", "alice", "at least 4 different characters"),
        ("123456789012345", "alice", "simple sequence"),
        ("ZYXWVUTSRQPONM", "alice", "simple sequence"),
        ("qwertyuiopasdfgh", "alice", "simple sequence"),
        ("Password1234", "alice", "too common"),
        ("correcthorsebatterystaple", "alice", "too common"),
        ("surrogate \ud800 here!", "alice", "not valid Unicode"),
    ],
)
def test_policy_refuses(password: str, username: str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_password_policy(password, username)
    detail = caught.value.detail
    assert reason in detail
    assert caught.value.code == "invalid"
    assert "\n" not in detail and not detail.endswith(".")  # one sentence
