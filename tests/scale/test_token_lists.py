"""The access token lists (the My account page and the API) cost the same statements however
many tokens, of however many accounts, an administrator sees: owners are loaded with their
tokens, and which accounts the admin manages is one condition of the query, not a look-up per
token."""

from __future__ import annotations

from sqlalchemy import event

from pbflow.extensions import db
from pbflow.services import api_tokens
from tests.api.helpers import Api, token
from tests.conftest import make_user


def _tokens_of_new_accounts(world, first: int, count: int) -> None:
    """``count`` accounts of the branch, each holding two tokens."""
    for n in range(first, first + count):
        owner = make_user(f"holder{n}", [(world.branch, "member")], person_org=world.branch)
        for name in ("sync", "report"):
            api_tokens.create_token(None, owner, f"{name}{n}")


def _statements(fetch) -> tuple[int, object]:
    fetch()  # caches warmed as in a running server (and the token's last use written)
    db.session.remove()  # a fresh request's session
    count = [0]

    def counter(*_args):
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        response = fetch()
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    assert response.status_code == 200
    return count[0], response


def test_the_token_lists_cost_the_same_for_ten_times_the_tokens(world, client, auth):
    admin = Api(client, token(world, "admin", "read"))
    auth.login("admin")
    api_tokens.create_token(None, world["other_secretary"], "elsewhere")
    _tokens_of_new_accounts(world, 0, 2)
    small_api, listed = _statements(lambda: admin.get("/api/v1/tokens")[0])
    small_page, page = _statements(lambda: client.get("/account/tokens"))
    assert len(listed.get_json()["items"]) == 1 + 1 + 4
    _tokens_of_new_accounts(world, 2, 18)
    large_api, listed = _statements(lambda: admin.get("/api/v1/tokens")[0])
    large_page, page = _statements(lambda: client.get("/account/tokens"))
    items = listed.get_json()["items"]
    assert len(items) == 1 + 1 + 40
    assert {t["owner"] for t in items} >= {"admin", "other_secretary", "holder0", "holder19"}
    assert "holder19" in page.get_data(as_text=True)
    assert large_api <= small_api, (small_api, large_api)
    assert large_page <= small_page, (small_page, large_page)


def test_the_listed_tokens_are_those_their_reader_may_manage(world):
    """The query's condition gives the tokens ``may_manage`` allows, token by token: for an
    admin at the top, an admin of a general branch (an account reaching past it is not
    theirs, nor one that belongs nowhere), a secretary (their own only) and the CLI."""
    from pbflow.models import ApiToken

    gb_admin = make_user(
        "gb_admin", [(world.general_branch, "admin")], person_org=world.general_branch
    )
    both = make_user("both", [(world.branch, "member"), (world.other_branch, "member")])
    nowhere = make_user("nowhere")
    db.session.commit()
    for holder in ("admin", "secretary", "member", "other_secretary", "auditor"):
        api_tokens.create_token(None, world[holder], f"{holder}-t")
    for holder in (gb_admin, both, nowhere):
        api_tokens.create_token(None, holder, f"{holder.username}-t")
    every = list(db.session.scalars(db.select(ApiToken)))
    for actor in (world["admin"], gb_admin, world["secretary"], None):
        expected = {t.id for t in every if api_tokens.may_manage(actor, t)}
        listed = [t.id for t in api_tokens.list_tokens(actor)]
        assert set(listed) == expected, getattr(actor, "username", "cli")
        assert listed == sorted(listed, reverse=True)
    names = {t.name for t in api_tokens.list_tokens(gb_admin)}
    assert names == {"gb_admin-t", "secretary-t", "member-t"}
    assert {t.name for t in api_tokens.list_tokens(world["secretary"])} == {"secretary-t"}
    mine = api_tokens.list_tokens(world["admin"], owner=world["member"])
    assert [t.name for t in mine] == ["member-t"]
    assert api_tokens.list_tokens(world["secretary"], owner=world["member"]) == []
