"""Text forms: parse, format, tolerance, and every error the grammar and the model call for."""

import pytest

from access_control import (
    DISSEMINATION_CONTROLS,
    Classification,
    Marking,
    MarkingError,
    build_marking,
    format_banner,
    format_portion,
    parse_marking,
)

ROUND_TRIPS = [
    ("TOP SECRET//SI/TK//NOFORN", "(TS//SI/TK//NF)"),
    ("SECRET//REL TO USA, AUS, GBR", "(S//REL TO USA, AUS, GBR)"),
    ("UNCLASSIFIED", "(U)"),
    ("CUI", "(CUI)"),
    ("UNCLASSIFIED//FOUO", "(U//FOUO)"),
    ("CUI//NOFORN", "(CUI//NF)"),
    ("CONFIDENTIAL//ORCON/IMCON", "(C//OC/IMC)"),
    ("SECRET//HCS-P/SI-G//FOUO/ORCON/IMCON/NOFORN/CUI", "(S//HCS-P/SI-G//FOUO/OC/IMC/NF/CUI)"),
    (
        "TOP SECRET//G/HCS/SI/TK//REL TO USA, CAN, GBR/RELIDO",
        "(TS//G/HCS/SI/TK//REL TO USA, CAN, GBR/RELIDO)",
    ),
    ("SECRET//RELIDO", "(S//RELIDO)"),
    ("CUI//FOUO/REL TO USA, JPN", "(CUI//FOUO/REL TO USA, JPN)"),
    ("UNCLASSIFIED//REL TO USA, GBR", "(U//REL TO USA, GBR)"),
]


@pytest.mark.parametrize(("banner", "portion"), ROUND_TRIPS)
def test_banner_and_portion_round_trip(banner: str, portion: str) -> None:
    from_banner = parse_marking(banner)
    from_portion = parse_marking(portion)
    assert from_banner == from_portion
    assert format_banner(from_banner) == from_banner.banner() == str(from_banner) == banner
    assert format_portion(from_banner) == from_banner.portion() == portion


def test_parsed_parts_are_typed() -> None:
    marking = parse_marking("TOP SECRET//SI/TK//NOFORN")
    assert marking == Marking(Classification.TOP_SECRET, frozenset({"SI", "TK"}), frozenset({"NOFORN"}))
    cui = parse_marking("CUI")
    assert cui == Marking(Classification.UNCLASSIFIED, dissemination=frozenset({"CUI"}))
    rel = parse_marking("SECRET//REL TO USA, AUS, GBR")
    assert rel.dissemination == {"REL"} and rel.rel_to == {"USA", "AUS", "GBR"}


CANONICAL = [
    ("  secret // rel to gbr , usa  ", "SECRET//REL TO USA, GBR"),
    ("Top   Secret//tk / si//nf", "TOP SECRET//SI/TK//NOFORN"),
    ("( ts // si )", "TOP SECRET//SI"),
    ("TS//SI", "TOP SECRET//SI"),
    ("S//NOFORN/OC/FOUO", "SECRET//FOUO/ORCON/NOFORN"),
    ("U//CUI", "CUI"),
    ("UNCLASSIFIED//CUI/NF", "CUI//NOFORN"),
    ("S//CUI/NF", "SECRET//NOFORN/CUI"),
    ("S//REL TO USA, FVEY", "SECRET//REL TO USA, AUS, CAN, GBR, NZL"),
    ("S//REL TO FVEY", "SECRET//REL TO USA, AUS, CAN, GBR, NZL"),
    ("S//REL TO ACGU, NZL", "SECRET//REL TO USA, AUS, CAN, GBR, NZL"),
    ("S//RELIDO/REL TO USA,GBR", "SECRET//REL TO USA, GBR/RELIDO"),
    ("c", "CONFIDENTIAL"),
    ("(CUI//FOUO)", "CUI//FOUO"),
]


@pytest.mark.parametrize(("text", "banner"), CANONICAL)
def test_tolerant_input_formats_canonically(text: str, banner: str) -> None:
    assert parse_marking(text).banner() == banner


# (input, token the message must name)
ERRORS = [
    ("SECRET//XQ", "'XQ'"),
    ("SECRET//SI/TK/XQ", "'XQ'"),
    ("SECRET//NF/XQ", "'XQ'"),
    ("SECRET//SI/SI", "'SI'"),
    ("SECRET//NF/NF", "'NF'"),
    ("SECRET//NF/NOFORN", "NOFORN"),
    ("CUI//CUI", "'CUI'"),
    ("SECRET//REL TO USA, GBR/REL TO USA, AUS", "'REL TO'"),
    ("SECRET//REL TO USA, GBR, GBR", "'GBR'"),
    ("SECRET//", "empty segment"),
    ("SECRET////NF", "empty segment"),
    ("SECRET//SI//", "empty segment"),
    ("SECRET//SI/", "empty segment"),
    ("//NF", "empty segment"),
    ("", "empty marking"),
    ("   ", "empty marking"),
    ("()", "empty marking"),
    ("(S//NF", "parenthesis"),
    ("S//NF)", "parenthesis"),
    ("UNCLASSIFIED//SI", "'SI'"),
    ("CUI//TK", "'TK'"),
    ("SECRET//NOFORN/REL TO USA, GBR", "'NOFORN'"),
    ("SECRET//NF/RELIDO", "'RELIDO'"),
    ("SECRET//REL TO GBR, AUS", "'USA'"),
    ("SECRET//REL TO USA", "'USA'"),
    ("SECRET//REL TO USA, XYZ", "'XYZ'"),
    ("SECRET//REL TO USA, EU", "'EU'"),
    ("SECRET//REL TO USA GBR", "'USA GBR'"),
    ("SECRET//REL TO USA,,GBR", "empty country code"),
    ("SECRET//REL TO", "'REL TO'"),
    ("SECRET//REL", "'REL'"),
    ("SECRET//NF//SI", "'SI'"),
    ("TOP SECRET//SI//TK", "'TK'"),
    ("SECRET//NF//ORCON", "'ORCON'"),
    ("SECRET//SI/NF", "'NF'"),
    ("SECRET//NF/SI", "'SI'"),
    ("SEKRET", "'SEKRET'"),
    ("S/NF", "'S/NF'"),
    ("UNCLASSIFIED//RELIDO", "'RELIDO'"),
    ("SECRET//SECRET", "'SECRET'"),
]


@pytest.mark.parametrize(("text", "named"), ERRORS)
def test_bad_markings_fail_closed(text: str, named: str) -> None:
    with pytest.raises(MarkingError) as raised:
        parse_marking(text)
    message = str(raised.value)
    assert named in message
    if text.strip():
        assert f"'{text.strip()}'" in message, "the message quotes the input"


def test_unknown_token_message_is_one_actionable_sentence() -> None:
    with pytest.raises(
        MarkingError, match=r"^unknown token 'XQ' in 'SECRET//XQ': not a registered SCI control"
    ):
        parse_marking("SECRET//XQ")


def test_rel_to_usa_alone_says_write_noforn() -> None:
    with pytest.raises(MarkingError, match="that is NOFORN, write NOFORN"):
        parse_marking("(S//REL TO USA)")


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        parse_marking(b"SECRET")  # type: ignore[arg-type]


def test_dissemination_vocabulary() -> None:
    assert {"NOFORN", "REL", "ORCON", "IMCON", "RELIDO", "FOUO", "CUI"} == DISSEMINATION_CONTROLS


class TestBuild:
    def test_normalises_abbreviations_and_expands_tetragraphs(self) -> None:
        built = build_marking(Classification.SECRET, ["si"], ["oc", "IMC"], ["FVEY"])
        assert built.dissemination == {"ORCON", "IMCON", "REL"}
        assert built.rel_to == {"USA", "AUS", "CAN", "GBR", "NZL"}
        assert built == parse_marking("S//SI//OC/IMC/REL TO USA, FVEY")

    def test_accepts_level_as_int_or_word(self) -> None:
        assert build_marking(3, ["TK"], ["NF"]) == parse_marking("TS//TK//NF")
        assert build_marking("top secret", ["TK"], ["NF"]) == parse_marking("TS//TK//NF")

    def test_rel_in_dissemination_is_optional_when_rel_to_is_given(self) -> None:
        assert build_marking(2, (), ["REL"], ["USA", "GBR"]) == build_marking(2, rel_to=["USA", "GBR"])

    @pytest.mark.parametrize(
        ("kwargs", "named"),
        [
            ({"classification": 2, "dissemination": ["REL"]}, "'REL'"),
            ({"classification": 2, "dissemination": ["NF"], "rel_to": ["USA", "GBR"]}, "'NOFORN'"),
            ({"classification": 0, "sci_controls": ["SI"]}, "'SI'"),
            ({"classification": 2, "sci_controls": ["ZZ"]}, "'ZZ'"),
            ({"classification": 2, "dissemination": ["SECRETISH"]}, "'SECRETISH'"),
            ({"classification": 2, "dissemination": ["NF", "NOFORN"]}, "'NOFORN'"),
            ({"classification": 2, "rel_to": ["USA"]}, "write NOFORN"),
            ({"classification": 2, "rel_to": ["GBR"]}, "'USA'"),
            ({"classification": 2, "rel_to": ["USA", "QQQ"]}, "'QQQ'"),
            ({"classification": "CUI"}, "'CUI'"),
            ({"classification": 7}, "7"),
            ({"classification": "SEKRET"}, "'SEKRET'"),
        ],
    )
    def test_errors(self, kwargs: dict[str, object], named: str) -> None:
        with pytest.raises(MarkingError) as raised:
            build_marking(**kwargs)  # type: ignore[arg-type]
        assert named in str(raised.value)

    def test_refuses_a_string_where_a_collection_is_expected(self) -> None:
        with pytest.raises(TypeError, match="collection"):
            build_marking(2, "SI/TK")


class TestDirectConstruction:
    """Markings built from database columns are checked too, without a registry."""

    def test_unclassified_convenience(self) -> None:
        assert Marking.unclassified() == Marking(Classification.UNCLASSIFIED) == parse_marking("U")

    @pytest.mark.parametrize(
        ("kwargs", "named"),
        [
            ({"dissemination": frozenset({"REL"})}, "'REL'"),
            ({"rel_to": frozenset({"USA", "GBR"})}, "'REL'"),
            ({"dissemination": frozenset({"REL"}), "rel_to": frozenset({"USA"})}, "write NOFORN"),
            ({"dissemination": frozenset({"REL"}), "rel_to": frozenset({"GBR"})}, "'USA'"),
            ({"dissemination": frozenset({"NF"})}, "'NF'"),
            ({"dissemination": frozenset({"NOFORN", "RELIDO"})}, "'RELIDO'"),
            (
                {"dissemination": frozenset({"REL", "NOFORN"}), "rel_to": frozenset({"USA", "GBR"})},
                "'NOFORN'",
            ),
            ({"dissemination": frozenset({"REL"}), "rel_to": frozenset({"USA", "FVEY"})}, "'FVEY'"),
            ({"sci_controls": frozenset({"si"})}, "'si'"),
        ],
    )
    def test_invariants(self, kwargs: dict[str, frozenset[str]], named: str) -> None:
        with pytest.raises(MarkingError) as raised:
            Marking(Classification.SECRET, **kwargs)
        assert named in str(raised.value)

    def test_no_sci_at_unclassified(self) -> None:
        with pytest.raises(MarkingError, match="'SI'"):
            Marking(Classification.UNCLASSIFIED, sci_controls=frozenset({"SI"}))

    def test_types_are_enforced(self) -> None:
        with pytest.raises(TypeError):
            Marking(2)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Marking(Classification.SECRET, sci_controls={"SI"})  # type: ignore[arg-type]

    def test_is_immutable_and_hashable(self) -> None:
        marking = parse_marking("S//SI//NF")
        assert {marking: 1}[parse_marking("(S//SI//NF)")] == 1
        with pytest.raises(AttributeError):
            marking.classification = Classification.TOP_SECRET  # type: ignore[misc]
