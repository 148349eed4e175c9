"""Hidden acceptance tests, milestone m3: messages and threads over the API."""

import pytest


@pytest.fixture
def team(service):
    alice, bob, eve = service.signup("alice"), service.signup("bob"), service.signup("eve")
    alice.channel("general")
    bob.join("general")
    return alice, bob, eve


def test_post_a_message(team):
    alice, _, _ = team
    response = alice.post("/api/channels/general/messages", {"text": "Hello team"})
    assert response.status == 201, response
    message = response.json["message"]
    assert isinstance(message["id"], int)
    assert (message["author"], message["text"]) == ("alice", "Hello team")
    assert message["parent_id"] is None


def test_messages_are_listed_oldest_first(team):
    alice, bob, _ = team
    alice.say("general", "first")
    bob.say("general", "second")
    alice.say("general", "third")
    listed = bob.messages("general")
    assert [(m["author"], m["text"]) for m in listed] == [("alice", "first"), ("bob", "second"), ("alice", "third")]


def test_text_is_trimmed_and_must_not_be_blank(team):
    alice, _, _ = team
    assert alice.say("general", "  padded  ")["text"] == "padded"
    for text in ["", "   ", "x" * 4001, 12]:
        response = alice.post("/api/channels/general/messages", {"text": text})
        assert response.status == 400, (text, response)
    assert alice.post("/api/channels/general/messages", {"text": "x" * 4000}).status == 201


def test_only_members_read_and_write_a_channel(team):
    _, _, eve = team
    assert eve.get("/api/channels/general/messages").status == 403
    assert eve.post("/api/channels/general/messages", {"text": "hi"}).status == 403
    assert eve.get("/api/channels/nowhere/messages").status == 404
    eve.join("general")
    assert eve.post("/api/channels/general/messages", {"text": "hi"}).status == 201


def test_replies_form_a_thread_one_level_deep(team):
    alice, bob, _ = team
    parent = alice.say("general", "Lunch at noon?")
    reply = bob.reply(parent["id"], "Count me in")
    assert reply["parent_id"] == parent["id"]
    alice.reply(parent["id"], "Great")
    response = alice.get(f"/api/messages/{parent['id']}/replies")
    assert response.status == 200, response
    assert response.json["message"]["text"] == "Lunch at noon?"
    assert [(r["author"], r["text"]) for r in response.json["replies"]] == [("bob", "Count me in"), ("alice", "Great")]
    nested = alice.post(f"/api/messages/{reply['id']}/replies", {"text": "deeper"})
    assert nested.status == 400, nested


def test_the_channel_lists_top_level_messages_with_their_reply_count(team):
    alice, bob, _ = team
    parent = alice.say("general", "Lunch?")
    bob.reply(parent["id"], "yes")
    bob.reply(parent["id"], "and me")
    alice.say("general", "After lunch")
    listed = alice.messages("general")
    assert [(m["text"], m["reply_count"]) for m in listed] == [("Lunch?", 2), ("After lunch", 0)]


def test_threads_outside_my_channels_are_hidden(team):
    alice, _, eve = team
    parent = alice.say("general", "members only")
    assert eve.get(f"/api/messages/{parent['id']}/replies").status == 403
    assert eve.post(f"/api/messages/{parent['id']}/replies", {"text": "sneaky"}).status == 403
    assert alice.get("/api/messages/9999/replies").status == 404


def test_paging_with_limit_and_before(team):
    alice, _, _ = team
    ids = [alice.say("general", f"m{n}")["id"] for n in range(1, 8)]
    page = alice.get("/api/channels/general/messages?limit=3").json["messages"]
    assert [m["text"] for m in page] == ["m5", "m6", "m7"]
    older = alice.get(f"/api/channels/general/messages?limit=3&before={ids[4]}").json["messages"]
    assert [m["text"] for m in older] == ["m2", "m3", "m4"]
    for bad in ["limit=0", "limit=201", "limit=ten"]:
        assert alice.get("/api/channels/general/messages?" + bad).status == 400, bad


def test_default_page_is_the_latest_50(team):
    alice, _, _ = team
    for n in range(1, 53):
        alice.say("general", f"n{n}")
    listed = alice.messages("general")
    assert len(listed) == 50
    assert (listed[0]["text"], listed[-1]["text"]) == ("n3", "n52")


def test_messages_survive_a_restart(team, service):
    alice, _, _ = team
    alice.say("general", "still here")
    service.restart()
    alice.port = service.port
    assert [m["text"] for m in alice.messages("general")] == ["still here"]
