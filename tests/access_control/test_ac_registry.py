"""Registries: the shipped default, loading files, refusing bad ones, and the accredited maximum."""

from pathlib import Path

import pytest

from access_control import (
    Classification,
    MarkingError,
    MarkingRegistry,
    check_accredited,
    default_registry,
    load_registry,
    parse_marking,
)

GOOD = """
sci_controls = ["SI", "TK"]
countries = ["USA", "GBR", "AUS", "CAN", "NZL", "FRA"]
accredited_max = "SECRET//SI//NOFORN"
[tetragraphs]
FVEY = ["USA", "AUS", "CAN", "GBR", "NZL"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_registry_contents() -> None:
    registry = default_registry()
    assert registry is default_registry(), "cached"
    assert {"SI", "SI-G", "TK", "HCS", "HCS-P", "G"} <= registry.sci_controls
    assert {
        "USA",
        "GBR",
        "AUS",
        "CAN",
        "NZL",
        "FRA",
        "DEU",
        "ITA",
        "ESP",
        "NLD",
        "NOR",
        "DNK",
        "POL",
        "JPN",
        "KOR",
    } <= (registry.countries)
    assert registry.tetragraphs["FVEY"] == {"USA", "AUS", "CAN", "GBR", "NZL"}
    assert registry.tetragraphs["ACGU"] == {"AUS", "CAN", "GBR", "USA"}
    assert {"USA", "CAN", "GBR", "FRA", "DEU", "POL", "TUR"} <= registry.tetragraphs["NATO"]
    assert "AUS" not in registry.tetragraphs["NATO"]
    assert registry.accredited_max.classification == Classification.TOP_SECRET
    assert registry.accredited_max.sci_controls == registry.sci_controls


def test_load_registry_from_file(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, GOOD))
    assert registry.sci_controls == {"SI", "TK"}
    assert registry.accredited_max == parse_marking("S//SI//NF", registry)
    assert parse_marking("S//REL TO USA, FVEY", registry).rel_to == {"USA", "AUS", "CAN", "GBR", "NZL"}
    with pytest.raises(MarkingError, match="'HCS'"):
        parse_marking("TS//HCS", registry)
    assert hash(registry) == hash(load_registry(write(tmp_path, GOOD)))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("sci_controls = [", "not valid TOML"),
        ("extra = 1\n" + GOOD, "'extra'"),
        (GOOD.replace('accredited_max = "SECRET//SI//NOFORN"\n', ""), "'accredited_max'"),
        (GOOD.replace('["SI", "TK"]', '"SI"'), "'sci_controls'"),
        (GOOD.replace('["SI", "TK"]', '["SI", 3]'), "'sci_controls'"),
        (GOOD.replace('["SI", "TK"]', '["SI", "SI"]'), "'SI'"),
        (GOOD.replace('["SI", "TK"]', '["SI", "si"]'), "'si'"),
        (GOOD.replace('["SI", "TK"]', '["SI", "NF"]'), "'NF'"),
        (GOOD.replace('["SI", "TK"]', '["SI", "T K"]'), "'T K'"),
        (GOOD.replace('"USA", "GBR", "AUS"', '"GBR", "AUS"'), "'USA'"),
        (GOOD.replace('"FRA"]', '"FRANCE"]'), "'FRANCE'"),
        (GOOD.replace('"NZL"]\n', '"NZL", "JPN"]\n'), "'JPN'"),
        (GOOD.replace("FVEY =", "FIVEEYES ="), "'FIVEEYES'"),
        (GOOD.replace("FVEY =", "FVEY = 1\nX ="), "'tetragraphs.FVEY'"),
        (GOOD.replace("SECRET//SI//NOFORN", "SECRET//HCS"), "'HCS'"),
        (GOOD.replace("SECRET//SI//NOFORN", "SECRET//NF/REL TO USA, GBR"), "'NOFORN'"),
        (GOOD.replace('accredited_max = "SECRET//SI//NOFORN"', "accredited_max = 2"), "'accredited_max'"),
        (GOOD.split("[tetragraphs]")[0] + "tetragraphs = 1\n", "'tetragraphs'"),
    ],
)
def test_bad_registry_files_are_refused(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MarkingError) as raised:
        load_registry(path)
    assert named in str(raised.value)
    assert str(path) in str(raised.value), "the message names the file"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MarkingError, match=r"cannot read marking registry .*nope\.toml"):
        load_registry(tmp_path / "nope.toml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(MarkingError, match="cannot read marking registry"):
        load_registry(path)


def test_registry_in_code_is_validated_and_read_only() -> None:
    tetragraphs = {"FVEY": frozenset({"USA", "GBR"})}
    registry = MarkingRegistry(
        sci_controls=frozenset({"SI"}),
        countries=frozenset({"USA", "GBR"}),
        tetragraphs=tetragraphs,
        accredited_max=parse_marking("S//SI//NF"),
    )
    tetragraphs["EVIL"] = frozenset({"USA"})
    assert "EVIL" not in registry.tetragraphs
    with pytest.raises(MarkingError, match="'TK'"):
        MarkingRegistry(
            sci_controls=frozenset({"SI"}),
            countries=frozenset({"USA"}),
            tetragraphs={},
            accredited_max=parse_marking("TS//TK//NF"),
        )


class TestCheckAccredited:
    def test_default_registry_admits_everything_registered(self) -> None:
        for text in [
            "TS//HCS/SI/SI-G/TK//ORCON/IMCON/NOFORN/FOUO/CUI",
            "TS//G//REL TO USA, FVEY/RELIDO",
            "CUI",
            "U",
        ]:
            check_accredited(parse_marking(text))

    @pytest.fixture
    def registry(self, tmp_path: Path) -> MarkingRegistry:
        return load_registry(write(tmp_path, GOOD.replace('"SI", "TK"', '"SI", "TK", "HCS"')))

    @pytest.mark.parametrize("text", ["S//SI//NF", "C//NF", "S//REL TO USA, GBR", "S", "U", "U//NF"])
    def test_within_the_maximum(self, registry: MarkingRegistry, text: str) -> None:
        check_accredited(parse_marking(text, registry), registry)

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            ("TS//NF", "TOP_SECRET"),
            ("S//TK//NF", "TK"),
            ("S//ORCON/NF", "ORCON"),
            ("CUI", "CUI"),
        ],
    )
    def test_above_the_maximum(self, registry: MarkingRegistry, text: str, named: str) -> None:
        with pytest.raises(
            MarkingError, match="exceeds the system's accredited maximum 'SECRET//SI//NOFORN'"
        ) as raised:
            check_accredited(parse_marking(text, registry), registry)
        assert named in str(raised.value)

    def test_coalition_maximum_refuses_noforn(self, tmp_path: Path) -> None:
        registry = load_registry(
            write(tmp_path, GOOD.replace("SECRET//SI//NOFORN", "SECRET//REL TO USA, FVEY"))
        )
        for text in ["S//REL TO USA, FVEY", "S//REL TO USA, FVEY, FRA", "C//REL TO USA, FVEY", "U"]:
            check_accredited(parse_marking(text, registry), registry)
        # Content a coalition member may not see must stay off a coalition system.
        for text in ["S//NF", "S", "S//REL TO USA, FRA", "S//REL TO USA, GBR"]:
            with pytest.raises(MarkingError, match="accredited maximum"):
                check_accredited(parse_marking(text, registry), registry)
