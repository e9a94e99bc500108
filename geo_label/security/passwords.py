"""Password hashing (argon2id or PBKDF2-SHA256), constant-cost checks for unknown users, password policy.

Parameters:

- argon2id: the RFC 9106 "low-memory" profile, which is also argon2-cffi's default
  (t=3 passes, m=64 MiB, p=4 lanes, 16-byte salt, 32-byte tag). About 160 ms per hash on a 2-core VM.
- PBKDF2-HMAC-SHA256 (for FIPS 140 deployments): 600,000 iterations (OWASP Password Storage Cheat Sheet,
  2023), 16-byte random salt, 32-byte output, stored as ``$pbkdf2-sha256$i=600000$<salt>$<hash>`` with
  standard base64 without padding (as in PHC strings). About 145 ms per hash on the same VM.

Passwords are NFKC-normalised before hashing (NIST SP 800-63B 5.1.1.2), so the same passphrase typed on two
keyboards verifies. Changing this normalisation would invalidate every stored hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Final, Protocol

import argon2
from argon2.exceptions import Argon2Error, InvalidHashError

from geo_label.errors import InvalidInputError
from geo_label.settings import PasswordScheme

ARGON2_PREFIX: Final = "$argon2id$"
PBKDF2_PREFIX: Final = "$pbkdf2-sha256$"
PBKDF2_ITERATIONS: Final = 600_000
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32

#: Policy bounds (characters after NFKC normalisation).
MIN_PASSWORD_CHARS: Final = 12
MAX_PASSWORD_CHARS: Final = 256
#: Longer input is refused without hashing: no valid password is that long, and it bounds the work per login.
MAX_VERIFY_CHARS: Final = 1024

# Ceilings on the cost read from a stored hash, so a corrupt or planted row cannot make one login
# allocate gigabytes or spin for minutes.
_MAX_ARGON2_MEMORY_KIB: Final = 1024 * 1024
_MAX_ARGON2_TIME_COST: Final = 32
_MAX_ARGON2_PARALLELISM: Final = 64
_MIN_PBKDF2_ITERATIONS: Final = 1_000
_MAX_PBKDF2_ITERATIONS: Final = 10_000_000


class PasswordHasher(Protocol):
    """Hashes new passwords with one scheme and set of parameters."""

    @property
    def scheme(self) -> PasswordScheme: ...

    def hash(self, password: str) -> str:
        """A new salted hash of ``password``, self-describing (scheme and parameters included)."""
        ...

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``; False for a malformed or foreign hash, never raises."""
        ...

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with another scheme or other parameters than this hasher's."""
        ...


def _encode(password: str) -> bytes:
    # surrogatepass: a lone surrogate (valid in JSON) must fail to verify, not raise. The policy refuses them.
    return unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass")


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class Argon2idHasher:
    """argon2id through argon2-cffi; the defaults are RFC 9106's low-memory profile.

    Tests pass lower costs explicitly, e.g. ``Argon2idHasher(time_cost=1, memory_cost=8, parallelism=1)``.
    """

    def __init__(self, *, time_cost: int = 3, memory_cost: int = 64 * 1024, parallelism: int = 4) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=HASH_BYTES,
            salt_len=SALT_BYTES,
            type=argon2.Type.ID,
        )

    @property
    def scheme(self) -> PasswordScheme:
        return PasswordScheme.ARGON2ID

    def hash(self, password: str) -> str:
        return self._hasher.hash(_encode(password))

    def verify(self, stored: str, password: str) -> bool:
        return _verify_argon2(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        if not stored.startswith(ARGON2_PREFIX):
            return True
        try:
            return self._hasher.check_needs_rehash(stored)
        except (Argon2Error, ValueError):
            return True


class Pbkdf2Sha256Hasher:
    """PBKDF2-HMAC-SHA256 through hashlib (FIPS 140 validated in FIPS builds of OpenSSL)."""

    def __init__(self, *, iterations: int = PBKDF2_ITERATIONS) -> None:
        if not _MIN_PBKDF2_ITERATIONS <= iterations <= _MAX_PBKDF2_ITERATIONS:
            raise ValueError(
                f"PBKDF2 iterations must be between {_MIN_PBKDF2_ITERATIONS} and {_MAX_PBKDF2_ITERATIONS}"
            )
        self._iterations = iterations

    @property
    def scheme(self) -> PasswordScheme:
        return PasswordScheme.PBKDF2_SHA256

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(SALT_BYTES)
        derived = hashlib.pbkdf2_hmac("sha256", _encode(password), salt, self._iterations, HASH_BYTES)
        return f"{PBKDF2_PREFIX}i={self._iterations}${_b64encode(salt)}${_b64encode(derived)}"

    def verify(self, stored: str, password: str) -> bool:
        return _verify_pbkdf2(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        parsed = _parse_pbkdf2(stored)
        if parsed is None:
            return True
        iterations, salt, expected = parsed
        return iterations != self._iterations or len(salt) != SALT_BYTES or len(expected) != HASH_BYTES


def _parse_pbkdf2(stored: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, hash) of a well-formed PBKDF2 string within sane bounds, else None."""
    if not stored.startswith(PBKDF2_PREFIX):
        return None
    parts = stored[len(PBKDF2_PREFIX) :].split("$")
    if len(parts) != 3 or not parts[0].startswith("i=") or not parts[0][2:].isdecimal():
        return None
    # isdecimal() accepts non-ASCII digits; int() would too, but the canonical form is ASCII.
    if not parts[0][2:].isascii():
        return None
    iterations = int(parts[0][2:])
    try:
        salt, expected = _b64decode(parts[1]), _b64decode(parts[2])
    except (binascii.Error, ValueError):
        return None
    if not _MIN_PBKDF2_ITERATIONS <= iterations <= _MAX_PBKDF2_ITERATIONS:
        return None
    if len(salt) < 8 or not 16 <= len(expected) <= 64:
        return None
    return iterations, salt, expected


def _verify_pbkdf2(stored: str, password: str) -> bool:
    parsed = _parse_pbkdf2(stored)
    if parsed is None or len(password) > MAX_VERIFY_CHARS:
        return False
    iterations, salt, expected = parsed
    derived = hashlib.pbkdf2_hmac("sha256", _encode(password), salt, iterations, len(expected))
    return hmac.compare_digest(derived, expected)


def _verify_argon2(stored: str, password: str) -> bool:
    # Any argon2 variant verifies (argon2-cffi reads the type from the prefix); needs_rehash says to upgrade.
    if not stored.startswith("$argon2") or len(password) > MAX_VERIFY_CHARS:
        return False
    try:
        params = argon2.extract_parameters(stored)
        if (
            params.memory_cost > _MAX_ARGON2_MEMORY_KIB
            or params.time_cost > _MAX_ARGON2_TIME_COST
            or params.parallelism > _MAX_ARGON2_PARALLELISM
        ):
            return False
        return _ARGON2_VERIFIER.verify(stored, _encode(password))
    except (Argon2Error, InvalidHashError, ValueError):
        return False


# Verification reads the parameters from the stored hash; the verifier's own parameters do not matter.
_ARGON2_VERIFIER: Final = argon2.PasswordHasher()


@cache
def hasher_for(scheme: PasswordScheme) -> PasswordHasher:
    """The hasher for new hashes under the configured scheme, with the production parameters above."""
    if scheme == PasswordScheme.ARGON2ID:
        return Argon2idHasher()
    if scheme == PasswordScheme.PBKDF2_SHA256:
        return Pbkdf2Sha256Hasher()
    raise ValueError(f"unknown password scheme {scheme!r}")


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``, whatever scheme made ``stored``.

    So accounts keep working after ``password_scheme`` changes; ``hasher_for(new).needs_rehash(stored)`` then
    says to store a fresh hash after the successful login. False, never an exception, for a malformed hash.
    """
    if stored.startswith(PBKDF2_PREFIX):
        return _verify_pbkdf2(stored, password)
    return _verify_argon2(stored, password)


#: Hashes of random passwords nobody knows, with the production parameters of each scheme.
#: Verifying against them costs what a real verification costs (see verify_against_dummy).
DUMMY_HASHES: Final[Mapping[PasswordScheme, str]] = {
    PasswordScheme.ARGON2ID: "$argon2id$v=19$m=65536,t=3,p=4$I3sIW7CjI9olnje1Lkb8Sw$"
    "w7p9DekSy8aUD/sIycmREE0wYVH6xfthpDgwVtFDxFE",
    PasswordScheme.PBKDF2_SHA256: "$pbkdf2-sha256$i=600000$Td/xcimF3nxnNstqO91HCw$"
    "R18rdE0ENvo2TebHYMMKDMc4XlTRQPVCzjW86c9vbiE",
}


def verify_against_dummy(password: str, scheme: PasswordScheme = PasswordScheme.ARGON2ID) -> bool:
    """Spend the time of one real verification, then return False.

    Call it when the username does not exist, with the configured scheme, so that a login for an unknown user
    takes as long as a failed login for a known one (no user enumeration by timing).
    """
    verify_password(DUMMY_HASHES[scheme], password)
    return False


_COMMON_PASSWORDS: Final = frozenset(
    {
        "password1234",
        "password12345",
        "password123!",
        "password@123",
        "passwordpassword",
        "p@ssw0rd1234",
        "p@ssword1234",
        "123456789012",
        "1234567890123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qwerty123456",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "asdfghjkl123",
        "zxcvbnm12345",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "welcome@1234",
        "changeme1234",
        "changeme123!",
        "administrator",
        "administrator1",
        "admin1234567",
        "adminadmin123",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "dragon123456",
        "monkey123456",
        "superman1234",
        "starwars1234",
        "correcthorsebatterystaple",
        "correct horse battery staple",
        "geolabel1234",
        "geo-label1234",
        "geolabel123!",
    }
)

_SEQUENCES: Final = (
    "0123456789" * 26,
    "9876543210" * 26,
    "abcdefghijklmnopqrstuvwxyz" * 10,
    "zyxwvutsrqponmlkjihgfedcba" * 10,
    "qwertyuiopasdfghjklzxcvbnm" * 10,
)


def one_time_password() -> str:
    """A password an administrator hands over once (the next sign-in must replace it): 24 random characters,
    within the policy."""
    return secrets.token_urlsafe(18)


def check_password_policy(password: str, username: str) -> None:
    """Refuse a new password that breaks the NIST SP 800-63B-style policy; no composition rules.

    Length 12 to 256 characters (after NFKC), not the username nor containing it (case-insensitive;
    containment checked for usernames of 3 or more characters), at least 4 different characters, not a run of
    a simple sequence, not in a small list of common passwords. Raises InvalidInputError with one sentence.
    """
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised) < MIN_PASSWORD_CHARS:
        raise InvalidInputError(f"password must be at least {MIN_PASSWORD_CHARS} characters long")
    if len(normalised) > MAX_PASSWORD_CHARS:
        raise InvalidInputError(f"password must be at most {MAX_PASSWORD_CHARS} characters long")
    try:
        normalised.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("password contains characters that are not valid Unicode") from None
    folded = normalised.casefold()
    name = unicodedata.normalize("NFKC", username).casefold().strip()
    if name and (folded == name or (len(name) >= 3 and name in folded)):
        raise InvalidInputError("password must not contain the username")
    if len(set(folded)) < 4:
        raise InvalidInputError("password must use at least 4 different characters")
    if any(folded in sequence for sequence in _SEQUENCES):
        raise InvalidInputError("password must not be a simple sequence of characters")
    if folded in _COMMON_PASSWORDS:
        raise InvalidInputError("password is too common")
