"""Train, validation and test splits that share no pixel and repeat for a seed.

Chips overlap their neighbours (64 pixels by default), so a split by chip would put the same pixels, and the
same objects, in training and in test. The rule:

1. **Blocks.** Each image's chip grid is cut into blocks of ``block`` x ``block`` chips; a block is the unit
   that is assigned. Different images never share a pixel and are assigned independently.
2. **Assignment.** Blocks are put in an order given by a hash of the seed and the block's place (so the same
   seed gives the same splits, and adding an image moves no other block), then each block goes to the split
   furthest below its share of chips.
3. **Guards.** A chip that overlaps or touches a chip of another split is left out of the dataset, the one of
   the larger split giving way (so the small validation and test splits stay whole). What remains has no
   pixel in two splits; the report counts the chips left out as ``guard``.

Blocks of 8 x 8 chips lose about 8 % of the chips to guards with 0.8/0.1/0.1 splits; smaller blocks give
finer shares and lose more.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from geo_label.errors import InvalidInputError

SPLIT_NAMES: Final = ("train", "val", "test")
DEFAULT_FRACTIONS: Final = (0.8, 0.1, 0.1)
DEFAULT_BLOCK: Final = 8
GUARD: Final = "guard"


@dataclass(frozen=True)
class GridChip:
    """A chip's pixel window in its image, and the chip grid's stride (chip size less the overlap)."""

    id: str
    image_id: str
    row_off: int
    col_off: int
    width: int
    height: int
    stride: int


@dataclass(frozen=True)
class SplitPlan:
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    seed: int = 0
    block: int = DEFAULT_BLOCK

    @property
    def names(self) -> tuple[str, ...]:
        return SPLIT_NAMES[: len(self.fractions)]


def parse_fractions(text: str) -> tuple[float, ...]:
    """``0.8,0.1,0.1`` (train, val, test; one to three shares that add up to 1)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInputError(f"--split takes shares such as 0.8,0.1,0.1, not {text!r}") from None
    if not 1 <= len(values) <= 3 or any(not 0.0 <= v <= 1.0 for v in values):
        raise InvalidInputError("--split takes one to three shares from 0 to 1 (train, val, test)")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise InvalidInputError(f"the split shares must add up to 1, not {sum(values):g}")
    return values


def assign_splits(chips: Sequence[GridChip], plan: SplitPlan) -> dict[str, str]:
    """Each chip's split name, or ``guard`` for a chip left out to keep the splits apart."""
    if plan.block < 1:
        raise InvalidInputError("the split block must be at least 1 chip")
    blocks: dict[tuple[str, int, int], list[GridChip]] = defaultdict(list)
    for chip in chips:
        blocks[(chip.image_id, *_grid_place(chip, plan.block))].append(chip)
    order = sorted(blocks, key=lambda key: _block_hash(plan.seed, key))
    total = len(chips)
    assigned = [0] * len(plan.fractions)
    split_of: dict[str, str] = {}
    for key in order:
        members = blocks[key]
        index = max(range(len(plan.fractions)), key=lambda i: (plan.fractions[i] * total - assigned[i], -i))
        assigned[index] += len(members)
        for chip in members:
            split_of[chip.id] = plan.names[index]
    return _with_guards(chips, split_of, plan)


def _grid_place(chip: GridChip, block: int) -> tuple[int, int]:
    return chip.row_off // chip.stride // block, chip.col_off // chip.stride // block


def _block_hash(seed: int, key: tuple[str, int, int]) -> bytes:
    return hashlib.sha256(f"{seed}:{key[0]}:{key[1]}:{key[2]}".encode()).digest()


def _with_guards(chips: Sequence[GridChip], split_of: dict[str, str], plan: SplitPlan) -> dict[str, str]:
    """Leave out each chip that overlaps or touches a chip of a split that takes precedence (smaller share
    first, then the later split)."""
    rank = {
        name: position
        for position, name in enumerate(
            sorted(plan.names, key=lambda n: (plan.fractions[plan.names.index(n)], -plan.names.index(n)))
        )
    }
    by_place: dict[tuple[str, int, int], list[GridChip]] = defaultdict(list)
    for chip in chips:
        by_place[(chip.image_id, chip.row_off // chip.stride, chip.col_off // chip.stride)].append(chip)
    result = dict(split_of)
    for chip in chips:
        own = rank[split_of[chip.id]]
        for other in _neighbours(chip, by_place):
            theirs = split_of[other.id]
            if rank[theirs] < own and _touch(chip, other):
                result[chip.id] = GUARD
                break
    return result


def _neighbours(chip: GridChip, by_place: dict[tuple[str, int, int], list[GridChip]]) -> Iterable[GridChip]:
    reach = max(1, math.ceil(max(chip.width, chip.height) / chip.stride))
    row, col = chip.row_off // chip.stride, chip.col_off // chip.stride
    for r in range(row - reach, row + reach + 1):
        for c in range(col - reach, col + reach + 1):
            for other in by_place.get((chip.image_id, r, c), ()):
                if other.id != chip.id:
                    yield other


def _touch(a: GridChip, b: GridChip) -> bool:
    """Whether two windows of one image share a pixel or an edge (closed boxes)."""
    return (
        a.col_off <= b.col_off + b.width
        and b.col_off <= a.col_off + a.width
        and a.row_off <= b.row_off + b.height
        and b.row_off <= a.row_off + a.height
    )
