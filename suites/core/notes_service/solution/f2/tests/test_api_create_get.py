import pytest

import notes_server


def test_post_creates_a_note(client):
    status, note, headers = client.post("/notes", {"title": "Groceries", "body": "milk, eggs"})
    assert status == 201
    assert headers["Content-Type"] == "application/json"
    assert note["id"] == 1
    assert note["title"] == "Groceries"
    assert note["body"] == "milk, eggs"
    assert note["created_at"] == note["updated_at"]


def test_body_is_optional(client):
    status, note, _ = client.post("/notes", {"title": "Just a title"})
    assert status == 201
    assert note["body"] == ""


def test_title_is_trimmed(client):
    assert client.post("/notes", {"title": "  Spaces  "})[1]["title"] == "Spaces"


def test_get_returns_the_created_note(client):
    _, created, _ = client.post("/notes", {"title": "A", "body": "b"})
    status, note, headers = client.get(f"/notes/{created['id']}")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert note == created


def test_unknown_note_is_404_with_error(client):
    status, payload, headers = client.get("/notes/99")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert isinstance(payload["error"], str)


def test_unknown_paths_are_404(client):
    for path in ["/", "/nope", "/notes/abc", "/notes/1/extra"]:
        status, payload, _ = client.get(path)
        assert status == 404, path
        assert "error" in payload


def test_invalid_json_and_missing_title_are_400(client):
    assert client.post("/notes", raw=b"{oops")[0] == 400
    assert client.post("/notes", {"body": "no title"})[0] == 400
    assert client.post("/notes", {"title": "   "})[0] == 400


def test_notes_survive_a_restart(db_path):
    first = notes_server.make_server("127.0.0.1", 0, db_path)
    note = first.store.create("Persistent", "yes")
    first.server_close()
    second = notes_server.make_server("127.0.0.1", 0, db_path)
    try:
        assert second.store.get(note["id"]) == note
    finally:
        second.server_close()


def test_main_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as excinfo:
        notes_server.main(["--port", "not-a-number"])
    assert excinfo.value.code == 2
