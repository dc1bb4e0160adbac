"""The supervision's training figure (``figure("training_hours")``) counts, per branch, what
the branch's year page lists member by member: who owes the year's training and who reached
it, however the hours came (study meetings attended, other training, both), for members
admitted during the year (owing a share), with a threshold set above the branch. It reads
per organization and total of minutes, not per member, in one statement."""

from __future__ import annotations

from datetime import date

from pbflow.procedures.three_meetings import training, training_figures
from tests.conftest import make_user
from tests.three_meetings.test_meetings_pages import count_queries
from tests.three_meetings.test_training_hours import other, study


def _page_counts(world, org, year):
    page = training_figures.year_page(
        world["secretary" if org is world.branch else "other_secretary"], org.id, year
    )
    return page.owed, page.reached


def test_the_figure_counts_what_the_year_pages_list(world, clock):
    clock.set("2026-09-01T02:00:00")
    # A newcomer admitted in July owes 16 hours (6 months of 32): 16 of them reach it.
    newcomer = make_user(
        "newcomer",
        person_org=world.branch,
        party_status="probationary",
        admitted_on=date(2026, 7, 1),
    )
    late = make_user(
        "late", person_org=world.branch, party_status="probationary", admitted_on=date(2026, 11, 3)
    )
    make_user("applicant", person_org=world.branch, party_status="applicant")
    for i, on in enumerate(("2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10")):
        study(
            world,
            "party_lecture" if i % 2 else "theme_day",
            on,
            "4",
            present=("secretary", "member"),
        )
    study(
        world, "theme_day", "2025-12-20", "8", present=("secretary", "deputy", "member")
    )  # last year
    other(world, "secretary", "2026-05-02", "16")  # 16 + 16 of meetings: reached
    other(world, "member", "2026-05-02", "15.5")  # 16 + 15.5: half an hour short
    other(world, "deputy", "2026-06-01", "24")
    other(world, "deputy", "2026-06-02", "8")  # other training alone: reached
    training.record_training(
        world["secretary"],
        world.branch.id,
        training.TrainingInput(
            person=str(newcomer.person.id), taken_on="2026-08-01", course="入党培训", hours="16"
        ),
    )
    assert late.person.id  # owes 2 months' share: 6 hours, has none
    expected = {world.branch.id: _page_counts(world, world.branch, 2026)}
    assert expected[world.branch.id] == (6, 3)  # secretary, deputy, newcomer reached
    with count_queries() as seen:
        found = training_figures.training_hours([world.branch.id, world.other_branch.id], 2026)
    assert len(seen) == 1
    assert (found[world.branch.id].owed, found[world.branch.id].reached) == (6, 3)
    assert (found[world.other_branch.id].owed, found[world.other_branch.id].reached) == (
        _page_counts(world, world.other_branch, 2026)
    )
    # Last year: the members of then who are still here, the December meeting alone.
    last = training_figures.training_hours([world.branch.id], 2025)[world.branch.id]
    assert (last.owed, last.reached) == _page_counts(world, world.branch, 2025)
    assert last.reached == 0
    # A threshold set above the branch moves both alike (lower than 32: at the top, the
    # only level that may lower it).
    training.set_threshold(world["committee_a"], world.committee.id, "20")
    found = training_figures.training_hours([world.branch.id], 2026)[world.branch.id]
    assert (found.owed, found.reached) == _page_counts(world, world.branch, 2026)
    assert found.threshold_hours == 20 and found.reached > 3
