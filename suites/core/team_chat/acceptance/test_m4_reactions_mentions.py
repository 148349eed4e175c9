"""Hidden acceptance tests, milestone m4: reactions and mentions over the API."""

import pytest


@pytest.fixture
def team(service):
    alice, bob, carol = service.signup("alice"), service.signup("bob"), service.signup("carol")
    alice.channel("general")
    bob.join("general")
    return alice, bob, carol


def react(user, message_id, emoji):
    response = user.post(f"/api/messages/{message_id}/reactions", {"emoji": emoji})
    assert response.status == 200, response
    return response.json["message"]["reactions"]


def summary(reactions):
    return [(r["emoji"], r["count"], sorted(r["users"])) for r in reactions]


def test_new_messages_have_no_reactions(team):
    alice, _, _ = team
    assert alice.say("general", "hi")["reactions"] == []


def test_reactions_are_toggled_per_user(team):
    alice, bob, _ = team
    message = alice.say("general", "Shipped!")
    assert summary(react(alice, message["id"], "🎉")) == [("🎉", 1, ["alice"])]
    assert summary(react(bob, message["id"], "🎉")) == [("🎉", 2, ["alice", "bob"])]
    assert summary(react(alice, message["id"], "🎉")) == [("🎉", 1, ["bob"])]
    assert summary(react(bob, message["id"], "🎉")) == []


def test_several_emoji_in_order_of_first_use(team):
    alice, bob, _ = team
    message = alice.say("general", "Shipped!")
    react(bob, message["id"], "👍")
    react(alice, message["id"], "❤️")
    react(alice, message["id"], "👍")
    listed = alice.messages("general")[0]
    assert summary(listed["reactions"]) == [("👍", 2, ["alice", "bob"]), ("❤️", 1, ["alice"])]


@pytest.mark.parametrize("emoji", ["", " ", "two words", "x" * 17, 5], ids=["empty", "blank", "space", "long", "number"])
def test_bad_emoji_are_400(team, emoji):
    alice, _, _ = team
    message = alice.say("general", "hi")
    response = alice.post(f"/api/messages/{message['id']}/reactions", {"emoji": emoji})
    assert response.status == 400, response


def test_reactions_need_a_visible_message(team):
    alice, _, carol = team
    message = alice.say("general", "members only")
    assert carol.post(f"/api/messages/{message['id']}/reactions", {"emoji": "👍"}).status == 403
    assert alice.post("/api/messages/9999/reactions", {"emoji": "👍"}).status == 404


def test_messages_list_who_they_mention(team):
    alice, _, _ = team
    message = alice.say("general", "@Carol and @bob, see @nobody and me@example.com")
    assert message["mentions"] == ["carol", "bob"]


def test_mentions_lists_messages_that_mention_me_newest_first(team):
    alice, bob, _ = team
    first = alice.say("general", "@bob can you look?")
    alice.say("general", "unrelated")
    alice.reply(first["id"], "ping @bob")
    response = bob.get("/api/mentions")
    assert response.status == 200, response
    assert [(m["text"], m["channel"]) for m in response.json["messages"]] == [
        ("ping @bob", "general"),
        ("@bob can you look?", "general"),
    ]


def test_mentions_only_in_channels_i_am_in(team):
    alice, _, carol = team
    alice.say("general", "@carol is not here")
    assert carol.get("/api/mentions").json["messages"] == []
    carol.join("general")
    assert [m["text"] for m in carol.get("/api/mentions").json["messages"]] == ["@carol is not here"]
