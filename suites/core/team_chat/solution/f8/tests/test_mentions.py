"""@mentions: recorded on messages, listed per user."""

from chat_store import mentioned_names


def test_mention_syntax():
    assert mentioned_names("hi @Bob and @carol_2, also @bob") == ["bob", "carol_2"]
    assert mentioned_names("mail me at me@example.com or @@x or @ab") == []


def test_messages_record_mentions_of_existing_users(client):
    alice, bob, _ = client.user("alice"), client.user("bob"), client.user("carol")
    alice.post("/api/channels", {"name": "general"})
    bob.post("/api/channels/general/join")
    body = alice.post("/api/channels/general/messages", {"text": "@carol @BOB see @nobody"})[1]
    assert body["message"]["mentions"] == ["carol", "bob"]


def test_mentions_lists_visible_mentions_newest_first(client):
    alice, bob, carol = client.user("alice"), client.user("bob"), client.user("carol")
    alice.post("/api/channels", {"name": "general"})
    alice.post("/api/channels", {"name": "secret"})
    bob.post("/api/channels/general/join")
    first = alice.post("/api/channels/general/messages", {"text": "hey @bob"})[1]["message"]
    alice.post("/api/channels/general/messages", {"text": "no mention"})
    alice.post("/api/channels/secret/messages", {"text": "@bob can't see this"})
    reply = alice.post(f"/api/messages/{first['id']}/replies", {"text": "ping @bob"})[1]["message"]
    status, body, _ = bob.get("/api/mentions")
    assert status == 200
    assert [m["text"] for m in body["messages"]] == ["ping @bob", "hey @bob"]
    assert body["messages"][0]["id"] == reply["id"]
    assert carol.get("/api/mentions")[1]["messages"] == []
    assert client.get("/api/mentions")[0] == 401


def test_page_has_a_mentions_button(client):
    assert b">Mentions<" in client.raw("/")[1]
