"""Unread counts per channel; reading a channel marks it read."""


def unread(user):
    return {c["name"]: c["unread"] for c in user.get("/api/channels")[1]["channels"]}


def test_unread_counts_others_top_level_messages_until_read(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "general"})
    alice.post("/api/channels", {"name": "random"})
    bob.post("/api/channels/general/join")
    assert unread(bob) == {"general": 0, "random": 0}
    first = alice.post("/api/channels/general/messages", {"text": "one"})[1]["message"]
    alice.post("/api/channels/general/messages", {"text": "two"})
    alice.post(f"/api/messages/{first['id']}/replies", {"text": "a reply"})
    bob.post("/api/channels/general/messages", {"text": "mine"})
    alice.post("/api/channels/random/messages", {"text": "not a member"})
    assert unread(bob) == {"general": 2, "random": 0}
    assert unread(alice) == {"general": 1, "random": 0}
    bob.get("/api/channels/general/messages")
    assert unread(bob)["general"] == 0
    alice.post("/api/channels/general/messages", {"text": "three"})
    assert unread(bob)["general"] == 1


def test_joining_starts_with_nothing_unread(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "general"})
    alice.post("/api/channels/general/messages", {"text": "old news"})
    bob.post("/api/channels/general/join")
    assert unread(bob)["general"] == 0


def test_mark_read_and_older_pages(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "general"})
    bob.post("/api/channels/general/join")
    ids = [alice.post("/api/channels/general/messages", {"text": f"m{n}"})[1]["message"]["id"] for n in range(3)]
    bob.get(f"/api/channels/general/messages?before={ids[2]}")
    assert unread(bob)["general"] == 3
    status, body, _ = bob.post("/api/channels/general/read")
    assert status == 200 and body["channel"]["unread"] == 0
    assert client.user("eve").post("/api/channels/general/read")[0] == 403


def test_page_shows_unread_badges(client):
    assert b"channel.unread" in client.raw("/static/app.js")[1]
