"""Domain errors: what went wrong in GeoLabel's own terms. The API maps them to HTTP in one place
(api/errors.py); the CLI prints them as one line. None of them carries database or internal detail."""

from __future__ import annotations

#: How much of a value an error message quotes: enough to recognise it, never the whole of a huge input.
QUOTE_LIMIT = 40


def brief(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``value`` quoted for an error message, cut to its first ``limit`` characters ("..." marks a cut)."""
    text = str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


class GeoLabelError(Exception):
    """Base of every domain error; ``code`` is a stable machine-readable name."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(GeoLabelError):
    """No such item, or one the caller may not read: the two are indistinguishable on purpose."""

    code = "not_found"

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind


class InvalidInputError(GeoLabelError):
    """The request is well-formed but breaks a rule (geometry, schema, marking); ``detail`` says which."""

    code = "invalid"


class ConflictError(GeoLabelError):
    """The request clashes with stored state (a duplicate name, an item in the wrong state)."""

    code = "conflict"


class PreconditionRequiredError(GeoLabelError):
    code = "precondition_required"


class PreconditionFailedError(GeoLabelError):
    """The item changed since the version the caller read (optimistic concurrency)."""

    code = "precondition_failed"


class AuthenticationError(GeoLabelError):
    """Missing, invalid or expired credentials; deliberately vague about which."""

    code = "unauthenticated"


class TooManyRequestsError(GeoLabelError):
    """Come back later: ``retry_after`` seconds (sign-in throttling, a full password-check pool)."""

    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class PermissionDeniedError(GeoLabelError):
    """The caller is known but lacks the role for this act (never used to hide marked content)."""

    code = "forbidden"
