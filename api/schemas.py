"""Request bodies (validated by pydantic) and response shapes (for the OpenAPI document).

Markings travel in banner form, e.g. ``"SECRET//REL TO USA, GBR"``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int | None = Field(
        description="Matches the caller may read (hidden items are never counted); null past a page's count "
        "cap, with total_at_least instead (annotations: ask count=true for the exact number)"
    )
    limit: int
    offset: int


class SessionOut(BaseModel):
    id: uuid.UUID
    idle_seconds: int = Field(description="The session ends after this long without user input.")
    ends_at: datetime = Field(description="The session ends then, whatever happens.")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    session: SessionOut | None = None
    must_change_password: bool = False


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idle_seconds: int = Field(
        ge=0, le=10**7, description="Seconds since the user's last keyboard or pointer input."
    )


class AttributeDef(BaseModel):
    name: str
    type: str = Field(description="string, number, integer, boolean or enum")
    required: bool = False
    values: list[Any] | None = None


class ClassDef(BaseModel):
    name: str
    geometry_types: list[str] = Field(
        default=["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
    )
    attributes: list[AttributeDef] = []


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    marking: str
    classes: list[ClassDef] = Field(min_length=1)
    description: str = ""
    review_required: bool = True


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    marking: str
    description: str
    classes: list[ClassDef]
    review_required: bool
    created_at: datetime


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    role: str = Field(description="labeler, reviewer or manager")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = None
    clearance: str = Field(default="UNCLASSIFIED", description='level and SCI, e.g. "TS//SI/TK"')
    citizenship: str = Field(min_length=3, max_length=3)
    cui_ok: bool = False
    clearance_expires: datetime | None = None
    roles: list[str] = []
    oidc_subject: str | None = Field(default=None, max_length=255)
    certificate_subject: str | None = Field(default=None, max_length=1000)
    justification: str = Field(default="", max_length=2000, description="Why the access is granted.")


class ClearanceIn(BaseModel):
    """A clearance to set. Omitted fields keep what is stored; ``clearance_expires: null`` removes the
    expiry; ``roles`` omitted keeps the account's system roles."""

    model_config = ConfigDict(extra="forbid")
    clearance: str = Field(max_length=200)
    citizenship: str | None = Field(default=None, min_length=3, max_length=3)
    cui_ok: bool | None = None
    clearance_expires: datetime | None = None
    roles: list[str] | None = None
    justification: str = Field(default="", max_length=2000, description="Why the access is granted.")


class GrantDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=2000)


class GrantOut(BaseModel):
    id: uuid.UUID
    username: str
    clearance: str
    citizenship: str
    cui_ok: bool
    clearance_expires: datetime | None
    roles: list[str]
    justification: str
    state: str
    proposed_by: str | None
    proposed_at: datetime


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class OneTimePasswordOut(BaseModel):
    username: str
    one_time_password: str = Field(description="Shown once; the next sign-in must choose a new password.")


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    clearance: str
    citizenship: str
    cui_ok: bool
    clearance_expires: datetime | None
    roles: list[str]
    active: bool
    locked_until: datetime | None = None
    must_change_password: bool = False
    pending_grant: uuid.UUID | None = Field(
        default=None, description="A requested widening of access that waits for a second security officer."
    )


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    chip_id: uuid.UUID
    label_class: str = Field(alias="class")
    geometry: dict[str, Any] = Field(description="GeoJSON geometry in EPSG:4326 (lon, lat)")
    marking: str | None = Field(default=None, description="Banner form; default: the chip's marking.")
    attributes: dict[str, Any] = {}
    source: str = "human"
    confidence: float | None = None
    status: str = "draft"


class AnnotationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    label_class: str | None = Field(default=None, alias="class")
    geometry: dict[str, Any] | None = None
    marking: str | None = None
    attributes: dict[str, Any] | None = None
    status: str | None = None
    confidence: float | None = None


class DowngradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marking: str
    justification: str = Field(min_length=10)


class AnnotationOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: uuid.UUID
    project_id: uuid.UUID
    image_id: uuid.UUID
    chip_id: uuid.UUID
    label_class: str = Field(alias="class")
    geometry: dict[str, Any]
    marking: str
    attributes: dict[str, Any]
    source: str
    confidence: float | None
    status: str
    version: int
    created_by: uuid.UUID
    created_at: datetime
    updated_by: uuid.UUID
    updated_at: datetime
    reviewed_by: uuid.UUID | None = Field(
        default=None, description="The reviewer who accepted or rejected its task, once reviewed"
    )
    prediction_id: uuid.UUID | None = Field(
        default=None, description="The model's prediction it was accepted from (source model), if any"
    )


class AnnotationPage(Page[AnnotationOut]):
    total_at_least: int | None = Field(
        default=None, description="Given instead of total past the count cap: at least this many match"
    )
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page (opaque; valid for you and this query); null at the end"
    )


class AcceptanceIn(BaseModel):
    """Changes made while accepting a suggestion (none: accepted unchanged)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    label_class: str | None = Field(default=None, alias="class")
    geometry: dict[str, Any] | None = None
    marking: str | None = None
    attributes: dict[str, Any] | None = None


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    version: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    description: str = Field(default="", max_length=2000)


class ModelOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    version: str
    ref: str = Field(description="NAME@VERSION, as the CLI and the predictions import take it")
    description: str
    marking: str
    created_at: datetime


class ReleaseDecisionIn(BaseModel):
    """A foreign disclosure officer's decision on a release request: why, kept and audited."""

    model_config = ConfigDict(extra="forbid")
    justification: str = Field(min_length=1, max_length=4000)


class ReleaseOut(BaseModel):
    """A release request: an export for a partner nation awaiting, or past, review (issue 15)."""

    id: uuid.UUID
    project_id: uuid.UUID
    recipient: str
    format: str
    state: str
    banner: str
    features: int
    requested_by: uuid.UUID
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    justification: str | None
    download_sha256: str | None
    #: The features by marking (banner form), in a single request's answer.
    by_marking: dict[str, int] | None = None


class DowngradeDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=2000)


class DowngradeOut(BaseModel):
    """A proposal to lower an annotation's marking below its floor (two security officers, issue 15)."""

    id: uuid.UUID
    annotation_id: uuid.UUID
    project_id: uuid.UUID
    version: int
    #: The annotation's marking when proposed (banner form), and the one proposed.
    marking: str
    to_marking: str
    justification: str
    proposed_by: uuid.UUID
    proposed_at: datetime
    state: str
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    comment: str


class NoticeOut(BaseModel):
    """The notice-and-consent banner shown before sign-in (GEO_LABEL_CONSENT_NOTICE)."""

    text: str


class DeactivateIn(BaseModel):
    """Why an account is deactivated: told to its holder at sign-in, and audited (issue 15)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
