"""Credentials: password hashing, access tokens, OIDC token verification."""
