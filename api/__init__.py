"""FastAPI service (the annotation service issue builds it); nothing below this package knows the web."""
