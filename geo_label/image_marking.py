"""The marking an image is held at: the file's own marking is a floor the operator may raise, never lower."""

from __future__ import annotations

from access_control import Marking, MarkingError, MarkingRegistry, check_accredited, dominates


class MarkingLoweredError(MarkingError):
    """The operator's marking is below what the file itself says."""


def image_marking(
    file_marking: Marking | None, operator_marking: Marking | None, registry: MarkingRegistry
) -> Marking | None:
    """The operator's marking when it dominates the file's, else the file's; refuse anything above the
    system's accredited maximum. None only when neither the file nor the operator gives one."""
    if file_marking and operator_marking and not dominates(operator_marking, file_marking):
        raise MarkingLoweredError(
            f"the file is marked {file_marking.banner()}; --marking {operator_marking.banner()} would lower "
            "it (raise it or leave it out)"
        )
    marking = operator_marking or file_marking
    if marking is not None:
        check_accredited(marking, registry)
    return marking
