"""The one error of this package that is not a request's fault: a deployment mistake found at start-up."""

from __future__ import annotations

from geo_label.errors import GeoLabelError


class SecurityConfigError(GeoLabelError):
    """A key file or OIDC setting is missing, unreadable, invalid or unsafe; ``detail`` says what to fix.

    Raised while building the application, never while serving a request.
    """

    code = "misconfigured"
