"""Tables. The schema is created and changed only by Alembic migrations (geo_label/db/migrations); these
mappings describe it for queries.

Every piece of marked content stores its marking as typed columns (classification 0..3, SCI controls,
dissemination controls, REL TO countries) so the database can index and enforce it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class MarkedMixin:
    """The marking of a piece of content, and its provenance (derivative classification)."""

    classification: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    sci_controls: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    dissemination: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    rel_to: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    derived_from: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    marked_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    oidc_subject: Mapped[str | None] = mapped_column(Text, unique=True)
    clearance: Mapped[int] = mapped_column(SmallInteger)
    sci_accesses: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    citizenship: Mapped[str] = mapped_column(String(3))
    cui_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    clearance_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_security_officer: Mapped[bool] = mapped_column(Boolean, default=False)
    is_foreign_disclosure_officer: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The subject of its holder's X.509 certificate (RFC 4514), for certificate sign-in (migration 0021).
    certificate_subject: Mapped[str | None] = mapped_column(Text, unique=True)
    #: Why, when and by which role the account was deactivated (migration 0019), told to its holder.
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deactivated_by_role: Mapped[str | None] = mapped_column(Text)
    deactivation_reason: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Project(MarkedMixin, Base):
    __tablename__ = "projects"
    # Unique per marking, not globally: a global name would tell an admin that a project they may not read
    # exists (migration 0005).
    __table_args__ = (
        Index(
            "projects_name_marking",
            "name",
            "classification",
            "sci_controls",
            "dissemination",
            "rel_to",
            unique=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    label_schema: Mapped[dict[str, Any]] = mapped_column(JSONB)
    review_required: Mapped[bool] = mapped_column(Boolean, default=True)
    lease_minutes: Mapped[int] = mapped_column(Integer, default=120)
    consensus_k: Mapped[int] = mapped_column(SmallInteger, default=1)
    agreement_threshold: Mapped[float] = mapped_column(Float, default=0.7)
    # The labeling queue's order (migration 0009; the foreign key to models is the database's).
    queue_order: Mapped[str] = mapped_column(String(16), server_default="default")
    queue_model_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    queue_threshold: Mapped[float] = mapped_column(Float, server_default="0.5")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Membership(Base):
    __tablename__ = "memberships"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Image(MarkedMixin, Base):
    __tablename__ = "images"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text)
    chips_dir: Mapped[str] = mapped_column(Text)
    driver: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    band_count: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    crs_wkt: Mapped[str] = mapped_column(Text)
    transform: Mapped[list[float]] = mapped_column(ARRAY(Float))
    footprint: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326))
    gsd_m: Mapped[float] = mapped_column(Float)
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sensor: Mapped[str | None] = mapped_column(Text)
    chip_size: Mapped[int] = mapped_column(Integer)
    chip_overlap: Mapped[int] = mapped_column(Integer)
    ingested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Chip(MarkedMixin, Base):
    __tablename__ = "chips"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    row_off: Mapped[int] = mapped_column(Integer)
    col_off: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    preview_path: Mapped[str] = mapped_column(Text)
    valid_fraction: Mapped[float] = mapped_column(Float)
    footprint: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326))
    status: Mapped[str] = mapped_column(String(16), default="open")


class Annotation(MarkedMixin, Base):
    __tablename__ = "annotations"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id"))
    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chips.id"))
    label_class: Mapped[str] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    geometry: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326))
    source: Mapped[str] = mapped_column(String(16), default="human")
    confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    prediction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("predictions.id"))


class AnnotationVersion(MarkedMixin, Base):
    """Every version an annotation ever had, written by a trigger on change or delete: nothing is lost."""

    __tablename__ = "annotation_versions"

    annotation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    chip_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    label_class: Mapped[str] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    geometry: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326))
    status: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(8))
    changed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRecord(Base):
    __tablename__ = "audit_log"
    # Most callers may not read audit records back (RLS), so an INSERT must not ask for RETURNING.
    __table_args__ = ({"implicit_returning": False},)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_name: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    item_type: Mapped[str | None] = mapped_column(String(32))
    item_id: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    classification: Mapped[int] = mapped_column(SmallInteger)
    sci_controls: Mapped[list[str]] = mapped_column(ARRAY(Text))
    dissemination: Mapped[list[str]] = mapped_column(ARRAY(Text))
    rel_to: Mapped[list[str]] = mapped_column(ARRAY(Text))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class ClearanceGrant(Base):
    """A widening of an account's access that waits for a second security officer (migration 0006)."""

    __tablename__ = "clearance_grants"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    clearance: Mapped[int] = mapped_column(SmallInteger)
    sci_accesses: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    citizenship: Mapped[str] = mapped_column(String(3))
    cui_ok: Mapped[bool] = mapped_column(Boolean)
    clearance_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    justification: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_comment: Mapped[str | None] = mapped_column(Text)


class AuditSeal(Base):
    """A record's seal under the audit key (migration 0007); the service role may only insert it."""

    __tablename__ = "audit_seals"
    __table_args__ = ({"implicit_returning": False},)

    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    mac: Mapped[bytes] = mapped_column(LargeBinary)


class SignInSession(Base):
    """A sign-in session (migration 0008): what access tokens name, ended on sign-out, idleness or by an
    officer."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idle_seconds: Mapped[int] = mapped_column(Integer)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))


class AccessToken(Base):
    """A read-only access token for desktop GIS and scripts (migration 0015): only its SHA-256 is kept."""

    __tablename__ = "access_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class SignInThrottle(Base):
    """Failed sign-ins by source, and by source and account name (migration 0011), shared by every process."""

    __tablename__ = "signin_throttle"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    interval_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    suppressed_names: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)


class AnnotationExtent(Base):
    """The box and first update of a project's annotations of one marking (migration 0013): only grows."""

    __tablename__ = "annotation_extents"

    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    classification: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    sci_controls: Mapped[list[str]] = mapped_column(ARRAY(Text), primary_key=True)
    dissemination: Mapped[list[str]] = mapped_column(ARRAY(Text), primary_key=True)
    rel_to: Mapped[list[str]] = mapped_column(ARRAY(Text), primary_key=True)
    west: Mapped[float] = mapped_column(Float)
    south: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


USERS = table_of(User)
PROJECTS = table_of(Project)
MEMBERSHIPS = table_of(Membership)
IMAGES = table_of(Image)
CHIPS = table_of(Chip)
ANNOTATIONS = table_of(Annotation)
ANNOTATION_VERSIONS = table_of(AnnotationVersion)
AUDIT_LOG = table_of(AuditRecord)
AUDIT_SEALS = table_of(AuditSeal)
SESSIONS = table_of(SignInSession)
ACCESS_TOKENS = table_of(AccessToken)
SIGNIN_THROTTLE = table_of(SignInThrottle)
ANNOTATION_EXTENTS = table_of(AnnotationExtent)


# --- Labeling workflow (migration 0002) -------------------------------------------------------------------


class Task(MarkedMixin, Base):
    """One labeling task per chip and consensus replica; the marking is the chip's."""

    __tablename__ = "tasks"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chips.id"))
    replica: Mapped[int] = mapped_column(SmallInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default="open")
    assignee: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    work_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    skipped_by: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TaskReview(MarkedMixin, Base):
    """A reviewer's decision on a submitted task, with the comment; append-only."""

    __tablename__ = "task_reviews"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chips.id"))
    reviewer: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    labeler: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GoldChip(MarkedMixin, Base):
    __tablename__ = "gold_chips"

    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chips.id"), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GoldFeature(MarkedMixin, Base):
    """A reference feature of a gold chip (kept apart from annotations: labelers must not see answers)."""

    __tablename__ = "gold_features"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gold_chips.chip_id"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    label_class: Mapped[str] = mapped_column(String(100))
    geometry: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GoldScore(MarkedMixin, Base):
    __tablename__ = "gold_scores"

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chips.id"))
    labeler: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    true_positives: Mapped[int] = mapped_column(Integer)
    false_positives: Mapped[int] = mapped_column(Integer)
    false_negatives: Mapped[int] = mapped_column(Integer)
    precision: Mapped[float] = mapped_column(Float)
    recall: Mapped[float] = mapped_column(Float)
    f1: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


TASKS = table_of(Task)
TASK_REVIEWS = table_of(TaskReview)
GOLD_CHIPS = table_of(GoldChip)
GOLD_FEATURES = table_of(GoldFeature)
GOLD_SCORES = table_of(GoldScore)


# --- Model-assisted labeling (migration 0009) -------------------------------------------------------------


class Model(MarkedMixin, Base):
    """A model version registered with a project; its marking is the project's."""

    __tablename__ = "models"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Prediction(MarkedMixin, Base):
    """One object a model version proposed, on the one chip it belongs to, and what a person made of it."""

    __tablename__ = "predictions"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # the chip's
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id"))
    image_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # the chip's
    chip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chips.id"))
    label_class: Mapped[str] = mapped_column(String(100))
    geometry: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326))
    score: Mapped[float] = mapped_column(Float)
    record_key: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default="proposed")
    annotation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    imported_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PredictionImport(MarkedMixin, Base):
    """An import through the API, run in the background; the marking is the project's."""

    __tablename__ = "prediction_imports"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id"))
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    file_name: Mapped[str] = mapped_column(Text)
    file_bytes: Mapped[int] = mapped_column(BigInteger)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="running")
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


MODELS = table_of(Model)
PREDICTIONS = table_of(Prediction)
PREDICTION_IMPORTS = table_of(PredictionImport)


# --- Release review (migration 0016) ----------------------------------------------------------------------


class ReleaseRequest(MarkedMixin, Base):
    """An export for a partner nation, awaiting (or past) a foreign-disclosure officer's decision; the
    marking is the banner of what it holds."""

    __tablename__ = "release_requests"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    recipient: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(16))
    statuses: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    merge_iou: Mapped[float | None] = mapped_column(Float(53))
    feature_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    justification: Mapped[str | None] = mapped_column(Text)
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    download_sha256: Mapped[str | None] = mapped_column(String(64))


class ReleaseFeature(MarkedMixin, Base):
    """One feature of a release request exactly as it was reviewed (its GeoJSON Feature text)."""

    __tablename__ = "release_features"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("release_requests.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    annotation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(Integer)
    feature: Mapped[str] = mapped_column(Text)


RELEASE_REQUESTS = table_of(ReleaseRequest)
RELEASE_FEATURES = table_of(ReleaseFeature)


# --- Downgrade proposals (migration 0017) -----------------------------------------------------------------


class DowngradeProposal(MarkedMixin, Base):
    """A security officer's proposal to lower an annotation's marking below its floor, awaiting another's
    decision; the marking is the annotation's as it stood."""

    __tablename__ = "downgrade_proposals"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    annotation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    version: Mapped[int] = mapped_column(Integer)
    to_marking: Mapped[str] = mapped_column(Text)
    justification: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")


DOWNGRADE_PROPOSALS = table_of(DowngradeProposal)


# --- Appeals (migration 0020) -----------------------------------------------------------------------------


class TaskAppeal(MarkedMixin, Base):
    """A labeler's appeal of a rejection, once per task, decided by another reviewer; the task's marking."""

    __tablename__ = "task_appeals"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    labeler: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    rejected_review: Mapped[uuid.UUID] = mapped_column(ForeignKey("task_reviews.id"))
    rejected_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_review: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("task_reviews.id"))


TASK_APPEALS = table_of(TaskAppeal)
