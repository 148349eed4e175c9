"""Reactions: any emoji, toggled per user."""

import pytest


@pytest.fixture
def message(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "general"})
    bob.post("/api/channels/general/join")
    body = alice.post("/api/channels/general/messages", {"text": "ship it"})[1]
    return alice, bob, body["message"]


def react(user, message_id, emoji):
    status, body, _ = user.post(f"/api/messages/{message_id}/reactions", {"emoji": emoji})
    assert status == 200, body
    return body


def test_reactions_toggle_per_user(message):
    alice, bob, msg = message
    assert msg["reactions"] == []
    body = react(alice, msg["id"], "👍")
    assert body["reacted"] is True
    assert body["message"]["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    react(bob, msg["id"], "👍")
    body = react(bob, msg["id"], "🎉")
    assert body["message"]["reactions"] == [
        {"emoji": "👍", "count": 2, "users": ["alice", "bob"]},
        {"emoji": "🎉", "count": 1, "users": ["bob"]},
    ]
    body = react(alice, msg["id"], "👍")
    assert body["reacted"] is False
    assert body["message"]["reactions"][0] == {"emoji": "👍", "count": 1, "users": ["bob"]}


def test_reactions_show_in_listings(message):
    alice, bob, msg = message
    react(bob, msg["id"], ":tada:")
    listed = alice.get("/api/channels/general/messages")[1]["messages"][0]
    assert listed["reactions"] == [{"emoji": ":tada:", "count": 1, "users": ["bob"]}]


@pytest.mark.parametrize("fields", [{}, {"emoji": ""}, {"emoji": "a b"}, {"emoji": "x" * 17}, {"emoji": 1}])
def test_bad_reactions_are_400(message, fields):
    alice, _, msg = message
    assert alice.post(f"/api/messages/{msg['id']}/reactions", fields)[0] == 400


def test_reacting_needs_membership_and_a_message(client, message):
    alice, _, msg = message
    eve = client.user("eve")
    assert eve.post(f"/api/messages/{msg['id']}/reactions", {"emoji": "👍"})[0] == 403
    assert alice.post("/api/messages/999/reactions", {"emoji": "👍"})[0] == 404
