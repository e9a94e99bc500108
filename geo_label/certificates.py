"""X.509 client certificates as sign-in (issue 15): the subject of a certificate the TLS layer verified
(against the configured CA bundle and CRL) names the account linked to it. Subjects are compared in one
canonical form, RFC 4514 as the ``cryptography`` library writes it, whatever form an operator typed."""

from __future__ import annotations

from cryptography import x509

from geo_label.errors import InvalidInputError, brief


def canonical_subject(text: str) -> str:
    """A distinguished name (``CN=Alice Smith,O=Example,C=US``) in its canonical RFC 4514 form."""
    try:
        name = x509.Name.from_rfc4514_string(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"not a certificate subject (RFC 4514, e.g. CN=Name,O=Org): {brief(text)}"
        ) from None
    if not len(name):
        raise InvalidInputError("a certificate subject has at least one attribute, e.g. CN=Name")
    return name.rfc4514_string()


def subject_of_der(certificate: bytes) -> str:
    """The subject of a DER-encoded certificate (the peer's, as the TLS layer hands it over)."""
    return x509.load_der_x509_certificate(certificate).subject.rfc4514_string()
