"""Properties over random valid markings drawn from the default registry."""

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from access_control import (
    Classification,
    Marking,
    UserAccess,
    build_marking,
    can_read,
    check_accredited,
    default_registry,
    dominates,
    format_banner,
    format_portion,
    parse_marking,
    releasable_to,
    roll_up,
)

REGISTRY = default_registry()
NOW = datetime(2025, 6, 1, tzinfo=UTC)
# A few common tokens most of the time, so that roll-ups meet overlapping sets; the whole registry sometimes.
SCI = st.sampled_from(["SI", "TK", "HCS"]) | st.sampled_from(sorted(REGISTRY.sci_controls))
PARTNERS = st.sampled_from(["GBR", "AUS", "CAN", "FRA", "FVEY", "ACGU"]) | st.sampled_from(
    sorted((REGISTRY.countries | REGISTRY.tetragraphs.keys()) - {"USA"})
)
CITIZENSHIPS = st.sampled_from(["USA", "GBR", "AUS", "CAN", "FRA", "NZL", "JPN"])


@st.composite
def markings(draw: st.DrawFn, coalition: bool = False) -> Marking:
    """Any valid marking; with ``coalition``, always REL TO a few close partners (so roll-ups keep a list)."""
    level = draw(st.sampled_from(Classification))
    sci = draw(st.frozensets(SCI, max_size=3)) if level else frozenset[str]()
    controls = set(draw(st.frozensets(st.sampled_from(["FOUO", "ORCON", "IMCON", "CUI"]))))
    # REL is drawn most often: a roll-up keeps a REL TO list only when every classified input has one.
    releasability = (
        "rel" if coalition else draw(st.sampled_from(["none", "noforn", "rel", "rel", "rel", "rel"]))
    )
    pool = st.sampled_from(["GBR", "AUS", "CAN", "FVEY", "ACGU"]) if coalition else PARTNERS
    partners = draw(st.lists(pool, min_size=1, max_size=4, unique=True)) if releasability == "rel" else []
    if releasability == "noforn":
        controls.add("NOFORN")
    elif level and draw(st.booleans()):
        controls.add("RELIDO")
    return build_marking(level, sci, controls, ["USA", *partners] if partners else [])


@st.composite
def users(draw: st.DrawFn) -> UserAccess:
    return UserAccess(
        clearance=draw(st.sampled_from(Classification)),
        sci_accesses=draw(st.frozensets(SCI, max_size=5)),
        citizenship=draw(CITIZENSHIPS),
        cui_ok=draw(st.booleans()),
        clearance_expires=draw(st.sampled_from([None, NOW + timedelta(days=1), NOW - timedelta(days=1)])),
        projects=draw(st.frozensets(st.sampled_from(["p1", "p2"]))),
    )


MARKING_LISTS = st.lists(markings(), max_size=6) | st.lists(markings(coalition=True), min_size=2, max_size=5)


# --- text forms ---------------------------------------------------------------------------------------------


@given(markings())
def test_parse_inverts_format(m: Marking) -> None:
    assert parse_marking(format_banner(m)) == m
    assert parse_marking(format_portion(m)) == m


@given(markings())
def test_format_of_parse_is_canonical(m: Marking) -> None:
    assert parse_marking(m.portion()).banner() == m.banner()
    assert parse_marking(m.banner()).portion() == m.portion()


@given(markings(), st.booleans(), st.booleans())
def test_case_and_spacing_do_not_matter(m: Marking, lower: bool, spaced: bool) -> None:
    text = m.banner().lower() if lower else m.banner()
    if spaced:
        text = re.sub(r"(?<!/)/(?!/)", " / ", text).replace("//", "  //  ").replace(",", " , ")
    assert parse_marking(f"  {text}\t") == m


@given(markings())
def test_every_generated_marking_is_within_the_default_accreditation(m: Marking) -> None:
    check_accredited(m)


# --- roll-up ------------------------------------------------------------------------------------------------


@given(MARKING_LISTS)
def test_roll_up_dominates_every_input(ms: list[Marking]) -> None:
    banner = roll_up(ms)
    assert all(dominates(banner, m) for m in ms)


@given(markings(), markings())
def test_pair_roll_up_dominates_both(a: Marking, b: Marking) -> None:
    assert dominates(roll_up([a, b]), a)
    assert dominates(roll_up([a, b]), b)


@given(MARKING_LISTS)
def test_roll_up_rel_to_is_the_intersection(ms: list[Marking]) -> None:
    banner = roll_up(ms)
    noforn = any(m.is_noforn or (m.is_classified and not m.rel_to) for m in ms)
    rel_sets = [m.rel_to for m in ms if m.rel_to]
    expected = frozenset.intersection(*rel_sets) if rel_sets and not noforn else frozenset[str]()
    if expected == {"USA"}:
        expected, noforn = frozenset(), True
    assert banner.rel_to == expected
    assert banner.is_noforn is noforn


@given(MARKING_LISTS)
def test_any_noforn_input_gives_a_noforn_banner(ms: list[Marking]) -> None:
    if any(m.is_noforn for m in ms):
        assert roll_up(ms).is_noforn
        assert "NOFORN" in roll_up(ms).banner()


@given(MARKING_LISTS)
def test_banner_is_never_rel_to_usa_alone(ms: list[Marking]) -> None:
    banner = roll_up(ms)
    assert banner.rel_to != {"USA"}
    assert not re.search(r"REL TO USA(?!,)", banner.banner())


@given(MARKING_LISTS, st.data())
def test_roll_up_is_commutative(ms: list[Marking], data: st.DataObject) -> None:
    assert roll_up(data.draw(st.permutations(ms))) == roll_up(ms)


@given(MARKING_LISTS)
def test_roll_up_is_idempotent(ms: list[Marking]) -> None:
    banner = roll_up(ms)
    assert roll_up(ms + ms) == banner
    assert roll_up([banner]) == banner
    assert roll_up([banner, banner]) == banner


@given(MARKING_LISTS, MARKING_LISTS)
def test_roll_up_is_associative(xs: list[Marking], ys: list[Marking]) -> None:
    assert roll_up([roll_up(xs), roll_up(ys)]) == roll_up(xs + ys)


# --- dominance ----------------------------------------------------------------------------------------------


@given(markings(), markings(), markings())
def test_dominates_is_a_partial_order(a: Marking, b: Marking, c: Marking) -> None:
    assert dominates(a, a)
    if dominates(a, b) and dominates(b, a):
        assert a == b
    if dominates(a, b) and dominates(b, c):
        assert dominates(a, c)
    # Random triples rarely form chains; roll-ups always do.
    lower = roll_up([b, c])
    upper = roll_up([a, lower])
    assert dominates(upper, lower) and dominates(lower, c) and dominates(upper, c)
    for x, y in [(c, roll_up([c])), (a, lower)]:
        if dominates(x, y) and dominates(y, x):
            assert x == y


# --- reading ------------------------------------------------------------------------------------------------


@given(users(), MARKING_LISTS, st.sampled_from([None, "p1"]))
def test_who_can_read_the_banner_can_read_every_portion(
    user: UserAccess, ms: list[Marking], project: str | None
) -> None:
    if can_read(user, roll_up(ms), project_id=project, now=NOW):
        assert all(can_read(user, m, project_id=project, now=NOW) for m in ms)


@given(users(), markings(), markings())
def test_reading_respects_dominance(user: UserAccess, a: Marking, b: Marking) -> None:
    if dominates(a, b) and can_read(user, a, now=NOW):
        assert can_read(user, b, now=NOW)


@given(st.sampled_from(sorted(REGISTRY.countries - {"USA"})), markings())
def test_releasable_to_matches_can_read_for_a_fully_cleared_foreigner(country: str, m: Marking) -> None:
    foreigner = UserAccess(
        clearance=Classification.TOP_SECRET,
        sci_accesses=REGISTRY.sci_controls,
        citizenship=country,
        cui_ok=True,
        clearance_expires=None,
    )
    assert releasable_to(m, country) is can_read(foreigner, m, now=NOW)
