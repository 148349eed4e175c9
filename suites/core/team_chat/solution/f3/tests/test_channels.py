"""Channels: create, list (with membership), get, join."""

import pytest


def test_create_channel_makes_the_creator_a_member(client):
    alice = client.user("alice")
    status, body, _ = alice.post("/api/channels", {"name": "General", "topic": " Company news "})
    assert status == 201, body
    channel = body["channel"]
    assert (channel["name"], channel["topic"], channel["created_by"]) == ("general", "Company news", "alice")
    assert channel["member"] is True and channel["members"] == 1


def test_list_shows_every_channel_by_name_with_membership(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "random"})
    bob.post("/api/channels", {"name": "design"})
    status, body, _ = alice.get("/api/channels")
    assert status == 200
    assert [(c["name"], c["member"]) for c in body["channels"]] == [("design", False), ("random", True)]


def test_join_is_idempotent_and_counts_members(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "general"})
    for _ in range(2):
        status, body, _ = bob.post("/api/channels/general/join")
        assert status == 200, body
        assert body["channel"]["member"] is True and body["channel"]["members"] == 2
    assert bob.get("/api/channels/GENERAL")[1]["channel"]["member"] is True


def test_unknown_channel_is_404(client):
    alice = client.user("alice")
    assert alice.post("/api/channels/nope/join")[0] == 404
    assert alice.get("/api/channels/nope")[0] == 404


def test_duplicate_name_is_409(client):
    alice = client.user("alice")
    alice.post("/api/channels", {"name": "general"})
    status, body, _ = alice.post("/api/channels", {"name": " GENERAL "})
    assert status == 409 and body["error"]


@pytest.mark.parametrize(
    "fields",
    [{}, {"name": ""}, {"name": "has space"}, {"name": "#general"}, {"name": "-dash"}, {"name": "x" * 33},
     {"name": 3}, {"name": "ok", "topic": 5}, {"name": "ok", "topic": "t" * 201}, {"name": "ok", "private": True}],
)
def test_bad_channels_are_400(client, fields):
    alice = client.user("alice")
    status, body, _ = alice.post("/api/channels", fields)
    assert status == 400, body
    assert alice.get("/api/channels")[1]["channels"] == []


def test_channels_need_a_session(client):
    assert client.get("/api/channels")[0] == 401
    assert client.post("/api/channels", {"name": "general"})[0] == 401
