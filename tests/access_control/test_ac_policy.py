"""Reading rules 1-5 (MARKINGS.md section 3), clearance expiry, and releasability to a recipient."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from access_control import (
    Classification,
    MarkingError,
    UserAccess,
    can_read,
    parse_marking,
    read_denial_reason,
    releasable_to,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ITEM = parse_marking("TS//SI/TK//FOUO/REL TO USA, GBR")
READER = UserAccess(
    clearance=Classification.TOP_SECRET,
    sci_accesses=frozenset({"SI", "TK"}),
    citizenship="GBR",
    cui_ok=True,
    clearance_expires=NOW + timedelta(days=30),
    projects=frozenset({"p1"}),
)


def test_reader_passes_every_rule() -> None:
    assert read_denial_reason(READER, ITEM, project_id="p1", now=NOW) is None
    assert can_read(READER, ITEM, project_id="p1", now=NOW)


@pytest.mark.parametrize(
    ("user", "rule"),
    [
        (replace(READER, clearance=Classification.SECRET), "rule 1"),
        (replace(READER, clearance_expires=NOW - timedelta(seconds=1)), "rule 1"),
        (replace(READER, clearance_expires=NOW), "rule 1"),
        (replace(READER, sci_accesses=frozenset({"SI"})), "rule 2"),
        (replace(READER, cui_ok=False), "rule 3"),
        (replace(READER, citizenship="FRA"), "rule 4"),
        (replace(READER, projects=frozenset({"p2"})), "rule 5"),
    ],
)
def test_each_rule_failing_alone_denies(user: UserAccess, rule: str) -> None:
    reason = read_denial_reason(user, ITEM, project_id="p1", now=NOW)
    assert reason is not None and reason.startswith(rule + ":")
    assert not can_read(user, ITEM, project_id="p1", now=NOW)


def test_rule_5_applies_only_when_a_project_is_given() -> None:
    outsider = replace(READER, projects=frozenset())
    assert can_read(outsider, ITEM, now=NOW)
    assert not can_read(outsider, ITEM, project_id="p1", now=NOW)


def test_denial_reasons_name_what_is_missing() -> None:
    assert "TK" in str(read_denial_reason(replace(READER, sci_accesses=frozenset({"SI"})), ITEM, now=NOW))
    assert "FRA" in str(read_denial_reason(replace(READER, citizenship="FRA"), ITEM, now=NOW))
    assert "'p1'" in str(
        read_denial_reason(replace(READER, projects=frozenset()), ITEM, project_id="p1", now=NOW)
    )


class TestRule3:
    @pytest.mark.parametrize("text", ["CUI", "U//FOUO", "S//NF/CUI", "CUI//NF"])
    def test_cui_and_fouo_need_cui_ok(self, text: str) -> None:
        user = replace(READER, citizenship="USA", cui_ok=False)
        assert not can_read(user, parse_marking(text), now=NOW)
        assert can_read(replace(user, cui_ok=True), parse_marking(text), now=NOW)

    def test_other_controls_do_not(self) -> None:
        user = replace(READER, citizenship="USA", cui_ok=False)
        assert can_read(user, parse_marking("S//ORCON/IMCON/NOFORN"), now=NOW)


class TestRule4:
    """Foreign readers; USA citizens are never stopped by releasability."""

    @pytest.mark.parametrize(
        ("text", "gbr_reads"),
        [
            ("S//NF", False),
            ("CUI//NF", False),
            ("U//NF", False),
            ("S", False),  # classified without REL: not releasable
            ("S//RELIDO", False),
            ("S//REL TO USA, GBR", True),
            ("S//REL TO USA, FVEY", True),  # after tetragraph expansion
            ("S//REL TO USA, AUS", False),
            ("U", True),  # unclassified without REL: releasable
            ("U//REL TO USA, GBR", True),
            ("U//REL TO USA, AUS", False),  # an explicit REL TO list binds at any level
        ],
    )
    def test_foreign_reader(self, text: str, gbr_reads: bool) -> None:
        marking = parse_marking(text)
        assert can_read(READER, marking, now=NOW) is gbr_reads
        assert can_read(replace(READER, citizenship="USA"), marking, now=NOW)


class TestExpiry:
    def test_expired_clearance_reads_nothing_not_even_unclassified(self) -> None:
        expired = replace(READER, clearance_expires=NOW - timedelta(days=1))
        reason = read_denial_reason(expired, parse_marking("U"), now=NOW)
        assert reason is not None and reason.startswith("rule 1: clearance expired")

    def test_no_expiry_never_expires(self) -> None:
        assert can_read(replace(READER, clearance_expires=None), ITEM, now=datetime.max.replace(tzinfo=UTC))

    def test_now_defaults_to_the_current_time(self) -> None:
        assert can_read(replace(READER, clearance_expires=datetime.now(UTC) + timedelta(hours=1)), ITEM)
        assert not can_read(replace(READER, clearance_expires=datetime.now(UTC) - timedelta(hours=1)), ITEM)

    def test_expiry_in_another_zone_compares_by_instant(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        later = datetime(2025, 6, 1, 14, 1, tzinfo=plus_two)  # 12:01 UTC
        earlier = datetime(2025, 6, 1, 13, 59, tzinfo=plus_two)  # 11:59 UTC
        assert can_read(replace(READER, clearance_expires=later), ITEM, now=NOW)
        assert not can_read(replace(READER, clearance_expires=earlier), ITEM, now=NOW)

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            replace(READER, clearance_expires=datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="timezone-aware"):
            can_read(READER, ITEM, now=datetime(2030, 1, 1))


class TestFromClearance:
    def test_parses_level_and_sci(self) -> None:
        user = UserAccess.from_clearance("TS//SI/TK", citizenship="USA", cui_ok=True, projects=["p1"])
        assert user.clearance == Classification.TOP_SECRET
        assert user.sci_accesses == {"SI", "TK"}
        assert user.projects == {"p1"}
        assert user.clearance_expires is None

    @pytest.mark.parametrize("text", ["SECRET", "(S)", "top secret // hcs / si-g"])
    def test_accepts_any_spelling(self, text: str) -> None:
        UserAccess.from_clearance(text, citizenship="GBR")

    @pytest.mark.parametrize(
        ("text", "named"), [("TS//SI//NOFORN", "NOFORN"), ("CUI", "CUI"), ("TS//XQ", "'XQ'")]
    )
    def test_refuses_controls_and_unknown_tokens(self, text: str, named: str) -> None:
        with pytest.raises(MarkingError) as raised:
            UserAccess.from_clearance(text, citizenship="USA")
        assert named in str(raised.value)

    @pytest.mark.parametrize("citizenship", ["usa", "US", "FVEY", ""])
    def test_citizenship_must_be_a_trigraph(self, citizenship: str) -> None:
        with pytest.raises(MarkingError, match="trigraph"):
            UserAccess.from_clearance("S", citizenship=citizenship)


class TestReleasableTo:
    @pytest.mark.parametrize(
        ("text", "country", "expected"),
        [
            ("S//REL TO USA, FVEY", "GBR", True),
            ("S//REL TO USA, FVEY", "gbr", True),
            ("S//REL TO USA, FVEY", "FRA", False),
            ("S//NF", "GBR", False),
            ("S", "GBR", False),
            ("U", "FRA", True),
            ("U//REL TO USA, GBR", "FRA", False),
            ("CUI//NF", "GBR", False),
            ("TS//SI//NF", "USA", True),
        ],
    )
    def test_recipient(self, text: str, country: str, expected: bool) -> None:
        assert releasable_to(parse_marking(text), country) is expected

    @pytest.mark.parametrize(
        ("country", "named"), [("FVEY", "tetragraph"), ("XYZ", "'XYZ'"), ("NATO", "tetragraph")]
    )
    def test_recipient_must_be_a_registered_trigraph(self, country: str, named: str) -> None:
        with pytest.raises(MarkingError, match=named):
            releasable_to(parse_marking("U"), country)

    def test_acting_for_a_recipient_checks_both(self) -> None:
        """Section 3, last line: the export passes only what the user and the recipient may both read."""
        us_user = replace(READER, citizenship="USA", sci_accesses=frozenset({"SI", "TK", "HCS"}))
        items = [
            parse_marking(t)
            for t in ["S//REL TO USA, GBR", "S//REL TO USA, FRA", "S//NF", "U", "TS//HCS//NF"]
        ]
        exported = [m for m in items if can_read(us_user, m, now=NOW) and releasable_to(m, "GBR")]
        assert [m.banner() for m in exported] == ["SECRET//REL TO USA, GBR", "UNCLASSIFIED"]
