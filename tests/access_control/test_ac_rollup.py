"""Roll-up (MARKINGS.md section 5) and dominance, on worked examples."""

import pytest

from access_control import Marking, dominates, least_upper_bound, parse_marking, roll_up


def rolled(*texts: str) -> str:
    return roll_up(parse_marking(text) for text in texts).banner()


@pytest.mark.parametrize(
    ("inputs", "banner"),
    [
        ((), "UNCLASSIFIED"),
        (("SECRET//REL TO USA, AUS, GBR", "UNCLASSIFIED"), "SECRET//REL TO USA, AUS, GBR"),
        (("S//REL TO USA, AUS, GBR", "C//REL TO USA, GBR, CAN"), "SECRET//REL TO USA, GBR"),
        (("S//REL TO USA, AUS", "C//REL TO USA, GBR"), "SECRET//NOFORN"),  # {USA} alone
        (("S//REL TO USA, GBR", "S"), "SECRET//NOFORN"),  # classified item without REL
        (("S//REL TO USA, GBR", "U//NF"), "SECRET//NOFORN"),
        (("S//REL TO USA, GBR", "CUI//NF"), "SECRET//NOFORN/CUI"),
        (("S//REL TO USA, FVEY", "U//REL TO USA, GBR, FRA"), "SECRET//REL TO USA, GBR"),
        (("U", "U//FOUO", "CUI"), "CUI//FOUO"),
        (("U//REL TO USA, GBR", "U"), "UNCLASSIFIED//REL TO USA, GBR"),
        (("TS//SI//NF", "S//TK//ORCON/REL TO USA, GBR"), "TOP SECRET//SI/TK//ORCON/NOFORN"),
        (("S//IMCON/REL TO USA, GBR", "S//REL TO USA, GBR"), "SECRET//IMCON/REL TO USA, GBR"),
        (("S//REL TO USA, GBR/RELIDO", "S//REL TO USA, GBR/RELIDO", "U"), "SECRET//REL TO USA, GBR/RELIDO"),
        (("S//REL TO USA, GBR/RELIDO", "C//REL TO USA, GBR"), "SECRET//REL TO USA, GBR"),
        (("S//RELIDO", "S//RELIDO"), "SECRET//NOFORN"),  # no REL, so NOFORN, so no RELIDO
        (("S//REL TO USA, AUS/RELIDO", "S//REL TO USA, GBR/RELIDO"), "SECRET//NOFORN"),
        (("S//REL TO USA, GBR", "S//REL TO USA, GBR"), "SECRET//REL TO USA, GBR"),
    ],
)
def test_roll_up_examples(inputs: tuple[str, ...], banner: str) -> None:
    assert rolled(*inputs) == banner


def test_least_upper_bound_is_roll_up() -> None:
    assert least_upper_bound is roll_up


def test_a_lone_classified_item_without_rel_rolls_up_to_noforn() -> None:
    """Section 5 exactly: "NOFORN if ... a classified item has no REL", even for one item."""
    assert rolled("SECRET") == "SECRET//NOFORN"
    assert dominates(parse_marking("SECRET//NOFORN"), parse_marking("SECRET"))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("TS", "S", True),
        ("S", "TS", False),
        ("TS//SI/TK//NF", "TS//SI//NF", True),
        ("TS//SI//NF", "TS//SI/TK//NF", False),
        ("S//NF", "S//REL TO USA, GBR", True),  # NOFORN dominates any REL
        ("S//REL TO USA, GBR", "S//NF", False),
        ("S//REL TO USA, GBR", "S//REL TO USA, GBR, AUS", True),
        ("S//REL TO USA, GBR, AUS", "S//REL TO USA, GBR", False),
        ("S//REL TO USA, GBR", "U", True),
        ("U", "U//REL TO USA, GBR", False),
        ("U//REL TO USA, GBR", "U", True),
        ("S//ORCON/NF", "S//NF", True),
        ("S//NF", "S//ORCON/NF", False),
        ("S//NF", "CUI", False),  # CUI must be carried
        ("S//NF/CUI", "CUI", True),
        ("S", "S//NF", False),  # the NOFORN flag must be carried
        ("S//NF", "S", True),
        ("S//REL TO USA, GBR", "S//REL TO USA, GBR/RELIDO", True),
        ("S//REL TO USA, GBR/RELIDO", "S//REL TO USA, GBR", False),
        ("S//REL TO USA, GBR/RELIDO", "U", True),  # RELIDO exists only at classified levels
    ],
)
def test_dominates_examples(a: str, b: str, expected: bool) -> None:
    assert dominates(parse_marking(a), parse_marking(b)) is expected


def test_unclassified_is_the_bottom_for_plain_content() -> None:
    bottom = Marking.unclassified()
    assert dominates(parse_marking("TS//SI/TK//NF"), bottom)
    assert dominates(bottom, bottom)
