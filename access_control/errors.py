"""The one exception type of the package.

Every parse or validation failure raises :class:`MarkingError`. It subclasses ``ValueError`` so callers that
only know "bad input" still catch it; the web layer maps it to a 4xx once, in one place.
"""


class MarkingError(ValueError):
    """A marking, registry or clearance could not be accepted; the message says which token and why."""
