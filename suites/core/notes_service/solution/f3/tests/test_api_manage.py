def test_list_is_empty_at_first(client):
    status, payload, headers = client.get("/notes")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert payload["notes"] == []


def test_list_returns_notes_oldest_first(client):
    for title in ["first", "second", "third"]:
        client.post("/notes", {"title": title})
    status, payload, _ = client.get("/notes")
    assert status == 200
    assert [note["title"] for note in payload["notes"]] == ["first", "second", "third"]


def test_patch_updates_given_fields(client):
    _, note, _ = client.post("/notes", {"title": "Old", "body": "keep"})
    status, updated, _ = client.request("PATCH", f"/notes/{note['id']}", {"title": "New"})
    assert status == 200
    assert updated["title"] == "New"
    assert updated["body"] == "keep"
    assert updated["created_at"] == note["created_at"]
    assert client.get(f"/notes/{note['id']}")[1]["title"] == "New"


def test_patch_body_only(client):
    _, note, _ = client.post("/notes", {"title": "T", "body": "old"})
    status, updated, _ = client.request("PATCH", f"/notes/{note['id']}", {"body": "new"})
    assert status == 200
    assert (updated["title"], updated["body"]) == ("T", "new")


def test_delete_returns_204_and_removes(client):
    _, note, _ = client.post("/notes", {"title": "Bye"})
    status, payload, _ = client.request("DELETE", f"/notes/{note['id']}")
    assert status == 204
    assert payload is None
    assert client.get(f"/notes/{note['id']}")[0] == 404
    assert client.get("/notes")[1]["notes"] == []


def test_patch_and_delete_unknown_are_404(client):
    status, payload, _ = client.request("PATCH", "/notes/77", {"title": "x"})
    assert status == 404 and "error" in payload
    status, payload, _ = client.request("DELETE", "/notes/77")
    assert status == 404 and "error" in payload
