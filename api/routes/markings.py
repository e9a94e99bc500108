"""The banner of a page: the roll-up of the markings of everything a screen shows.

The web UI sends the markings of the objects it displays (chip, neighbours, annotations, project) and shows
the answer at the top and bottom of the page, so the roll-up rules live in one place (``access_control``)
rather than being reimplemented in JavaScript.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from access_control import Classification, Marking, can_read, parse_marking, roll_up
from api.deps import ContextDep

router = APIRouter(prefix="/markings", tags=["markings"])

#: The conventional banner colours (background, text) by level; TOP SECRET with SCI controls is yellow.
COLOURS: dict[Classification, tuple[str, str]] = {
    Classification.UNCLASSIFIED: ("#007a33", "#ffffff"),
    Classification.CONFIDENTIAL: ("#0033a0", "#ffffff"),
    Classification.SECRET: ("#c8102e", "#ffffff"),
    Classification.TOP_SECRET: ("#ff8c00", "#000000"),
}
CUI_COLOURS = ("#502b85", "#ffffff")
TS_SCI_COLOURS = ("#fce83a", "#000000")


class RollupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    markings: list[str] = Field(max_length=10_000, description="Banner (or portion) forms; none gives U.")


class RollupOut(BaseModel):
    banner: str
    portion: str
    colour: str = Field(description="The banner's background colour (#rrggbb).")
    text_colour: str = Field(description="A text colour readable on it.")
    readable: bool = Field(description="Whether the caller's clearance dominates the roll-up.")


def colours_of(marking: Marking) -> tuple[str, str]:
    """Background and text colour of a banner: by level, CUI purple at U, TS with SCI yellow."""
    if marking.classification == Classification.TOP_SECRET and marking.sci_controls:
        return TS_SCI_COLOURS
    if marking.classification == Classification.UNCLASSIFIED and "CUI" in marking.dissemination:
        return CUI_COLOURS
    return COLOURS[marking.classification]


@router.post("/rollup", response_model=RollupOut)
def rollup(ctx: ContextDep, body: RollupIn) -> RollupOut:
    """The banner for a set of markings; an invalid marking is a 422, never skipped."""
    marking = roll_up(parse_marking(text, ctx.registry) for text in body.markings)
    colour, text_colour = colours_of(marking)
    return RollupOut(
        banner=marking.banner(),
        portion=marking.portion(),
        colour=colour,
        text_colour=text_colour,
        readable=can_read(ctx.caller.access, marking),
    )
