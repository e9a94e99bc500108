"""The response check every API test runs through (tests.response_contract) finds what it must."""

from __future__ import annotations

import json
import uuid

from api.schemas import AnnotationPage, ProjectOut
from tests.response_contract import contract_problem


def test_a_key_the_schema_does_not_declare_is_found_at_any_depth() -> None:
    """Regression: annotations were sent with reviewed_by, which AnnotationOut did not declare (issue 16)."""
    page = {"items": [], "total": 0, "limit": 100, "offset": 0, "next_cursor": None}
    assert contract_problem(AnnotationPage, _json(page)) is None
    page["surprise"] = 1
    assert contract_problem(AnnotationPage, _json(page)) == "keys the schema does not declare: body.surprise"


def test_a_wrong_type_or_a_missing_field_is_found() -> None:
    problem = contract_problem(ProjectOut, _json({"id": str(uuid.uuid4())}))
    assert problem is not None and "Field required" in problem


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
