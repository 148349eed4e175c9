"""Messages in channels and one-level threads."""

import pytest


@pytest.fixture
def team(client):
    alice, bob, eve = client.user("alice"), client.user("bob"), client.user("eve")
    alice.post("/api/channels", {"name": "general"})
    bob.post("/api/channels/general/join")
    return alice, bob, eve


def post(user, text, channel="general"):
    status, body, _ = user.post(f"/api/channels/{channel}/messages", {"text": text})
    assert status == 201, body
    return body["message"]


def test_post_and_list_messages(team):
    alice, bob, _ = team
    first = post(alice, "  hello team  ")
    assert (first["author"], first["text"], first["channel"], first["parent_id"]) == ("alice", "hello team", "general", None)
    assert first["reply_count"] == 0 and first["created_at"].endswith("Z")
    post(bob, "hi alice")
    status, body, _ = bob.get("/api/channels/general/messages")
    assert status == 200
    assert [(m["author"], m["text"]) for m in body["messages"]] == [("alice", "hello team"), ("bob", "hi alice")]
    assert body["has_more"] is False


def test_only_members_read_and_post(team):
    _, _, eve = team
    assert eve.get("/api/channels/general/messages")[0] == 403
    assert eve.post("/api/channels/general/messages", {"text": "let me in"})[0] == 403
    assert eve.get("/api/channels/nope/messages")[0] == 404


@pytest.mark.parametrize("fields", [{}, {"text": ""}, {"text": "   "}, {"text": 7}, {"text": "x" * 4001},
                                    {"text": "hi", "parent_id": 1}])
def test_bad_messages_are_400(team, fields):
    alice, _, _ = team
    assert alice.post("/api/channels/general/messages", fields)[0] == 400


def test_paging_with_limit_and_before(team):
    alice, _, _ = team
    ids = [post(alice, f"m{n}")["id"] for n in range(5)]
    body = alice.get("/api/channels/general/messages?limit=2")[1]
    assert [m["text"] for m in body["messages"]] == ["m3", "m4"] and body["has_more"] is True
    body = alice.get(f"/api/channels/general/messages?limit=2&before={ids[3]}")[1]
    assert [m["text"] for m in body["messages"]] == ["m1", "m2"]
    body = alice.get(f"/api/channels/general/messages?before={ids[1]}")[1]
    assert [m["text"] for m in body["messages"]] == ["m0"] and body["has_more"] is False
    for bad in ["limit=0", "limit=201", "limit=x", "before=0", "before=-1"]:
        assert alice.get("/api/channels/general/messages?" + bad)[0] == 400, bad


def test_threads_are_one_level_deep(team):
    alice, bob, eve = team
    parent = post(alice, "lunch?")
    status, body, _ = bob.post(f"/api/messages/{parent['id']}/replies", {"text": "yes!"})
    assert status == 201, body
    reply = body["message"]
    assert reply["parent_id"] == parent["id"] and reply["channel"] == "general"
    assert bob.post(f"/api/messages/{reply['id']}/replies", {"text": "deeper"})[0] == 400
    status, thread, _ = alice.get(f"/api/messages/{parent['id']}/replies")
    assert status == 200
    assert thread["message"]["reply_count"] == 1
    assert [r["text"] for r in thread["replies"]] == ["yes!"]
    listed = alice.get("/api/channels/general/messages")[1]["messages"]
    assert [m["text"] for m in listed] == ["lunch?"] and listed[0]["reply_count"] == 1
    assert alice.get(f"/api/messages/{reply['id']}")[1]["message"]["text"] == "yes!"
    assert eve.get(f"/api/messages/{parent['id']}/replies")[0] == 403
    assert alice.get("/api/messages/999/replies")[0] == 404
    assert alice.get("/api/messages/999")[0] == 404
