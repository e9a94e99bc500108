"""Classification levels and their spellings (banner word, portion abbreviation)."""

from enum import IntEnum


class Classification(IntEnum):
    """The four levels, ordered; stored in the database as 0..3."""

    UNCLASSIFIED = 0
    CONFIDENTIAL = 1
    SECRET = 2
    TOP_SECRET = 3


BANNER_WORDS: dict[Classification, str] = {
    Classification.UNCLASSIFIED: "UNCLASSIFIED",
    Classification.CONFIDENTIAL: "CONFIDENTIAL",
    Classification.SECRET: "SECRET",
    Classification.TOP_SECRET: "TOP SECRET",
}

PORTION_WORDS: dict[Classification, str] = {
    Classification.UNCLASSIFIED: "U",
    Classification.CONFIDENTIAL: "C",
    Classification.SECRET: "S",
    Classification.TOP_SECRET: "TS",
}

_SPELLINGS: dict[str, Classification] = {
    **{word: level for level, word in BANNER_WORDS.items()},
    **{word: level for level, word in PORTION_WORDS.items()},
}

LEVEL_SPELLINGS: frozenset[str] = frozenset(_SPELLINGS)


def level_from_word(word: str) -> Classification | None:
    """The level a (case-insensitive, whitespace-tolerant) word names, or None if it names none."""
    return _SPELLINGS.get(" ".join(word.upper().split()))
