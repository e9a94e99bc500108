"""Security markings and clearance-based access control for GeoLabel.

Pure Python, standard library only: parse and format CAPCO-style markings, validate them against a registry,
roll them up, compare them by dominance, and decide whether a user (or a recipient nation) may read an item.
The security model is MARKINGS.md; choices it leaves open are in docs/markings.md.
"""

from access_control.controls import DISSEMINATION_CONTROLS
from access_control.dominance import check_accredited, dominates
from access_control.errors import MarkingError
from access_control.format import format_banner, format_portion
from access_control.levels import Classification
from access_control.loading import default_registry, load_registry
from access_control.marking import Marking
from access_control.parse import build_marking, parse_marking
from access_control.policy import can_read, read_denial_reason, releasable_to
from access_control.registry import MarkingRegistry
from access_control.rollup import least_upper_bound, roll_up
from access_control.user import UserAccess

__all__ = [
    "DISSEMINATION_CONTROLS",
    "Classification",
    "Marking",
    "MarkingError",
    "MarkingRegistry",
    "UserAccess",
    "build_marking",
    "can_read",
    "check_accredited",
    "default_registry",
    "dominates",
    "format_banner",
    "format_portion",
    "least_upper_bound",
    "load_registry",
    "parse_marking",
    "read_denial_reason",
    "releasable_to",
    "roll_up",
]
