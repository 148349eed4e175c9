"""Search over the messages a user can see."""


def setup_team(client):
    alice, bob = client.user("alice"), client.user("bob")
    alice.post("/api/channels", {"name": "general"})
    alice.post("/api/channels", {"name": "secret"})
    bob.post("/api/channels/general/join")
    parent = alice.post("/api/channels/general/messages", {"text": "Deploy on Friday?"})[1]["message"]
    bob.post(f"/api/messages/{parent['id']}/replies", {"text": "never deploy on fridays"})
    alice.post("/api/channels/general/messages", {"text": "lunch"})
    alice.post("/api/channels/secret/messages", {"text": "secret DEPLOY plan"})
    return alice, bob


def test_search_is_a_case_insensitive_substring_newest_first(client):
    alice, bob = setup_team(client)
    status, body, _ = bob.get("/api/search?q=DEPLOY")
    assert status == 200
    assert [m["text"] for m in body["messages"]] == ["never deploy on fridays", "Deploy on Friday?"]
    assert body["total"] == 2
    assert alice.get("/api/search?q=deploy")[1]["total"] == 3
    assert bob.get("/api/search?q=nothing%20like%20this")[1]["messages"] == []


def test_search_in_one_channel(client):
    alice, bob = setup_team(client)
    body = alice.get("/api/search?q=deploy&channel=secret")[1]
    assert [m["text"] for m in body["messages"]] == ["secret DEPLOY plan"]
    assert bob.get("/api/search?q=deploy&channel=secret")[0] == 403


def test_search_handles_unicode_case(client):
    alice = client.user("alice")
    alice.post("/api/channels", {"name": "general"})
    alice.post("/api/channels/general/messages", {"text": "Große Straße"})
    assert alice.get("/api/search?q=GROSSE")[1]["total"] == 1


def test_blank_or_missing_query_is_400(client):
    alice = client.user("alice")
    for path in ["/api/search", "/api/search?q=", "/api/search?q=%20%20", "/api/search?q=" + "x" * 101]:
        assert alice.get(path)[0] == 400, path
    assert client.get("/api/search?q=x")[0] == 401


def test_page_has_a_search_box(client):
    page = client.raw("/")[1].decode("utf-8")
    assert 'for="search">Search<' in page and 'aria-label="Search results"' in page
