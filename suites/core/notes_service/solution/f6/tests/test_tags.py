import sqlite3

import pytest

from notes_store import NoteStore


def test_new_notes_have_no_tags(client):
    assert client.post("/notes", {"title": "plain"})[1]["tags"] == []


def test_tags_are_normalised(client):
    status, note, _ = client.post("/notes", {"title": "Trip", "tags": ["Travel", " travel ", "TODO"]})
    assert status == 201
    assert note["tags"] == ["todo", "travel"]
    assert client.get(f"/notes/{note['id']}")[1]["tags"] == ["todo", "travel"]


def test_patch_replaces_tags(client):
    _, note, _ = client.post("/notes", {"title": "T", "tags": ["a"]})
    status, updated, _ = client.request("PATCH", f"/notes/{note['id']}", {"tags": ["B", "c"]})
    assert status == 200
    assert updated["tags"] == ["b", "c"]
    status, updated, _ = client.request("PATCH", f"/notes/{note['id']}", {"title": "T2"})
    assert updated["tags"] == ["b", "c"]
    assert client.request("PATCH", f"/notes/{note['id']}", {"tags": []})[1]["tags"] == []


@pytest.mark.parametrize(
    "tags", ["work", [1], [""], ["  "], [None], {"a": 1}], ids=["string", "number", "empty", "blank", "null", "object"]
)
def test_bad_tags_are_400(client, tags):
    status, payload, _ = client.post("/notes", {"title": "x", "tags": tags})
    assert status == 400 and "error" in payload
    _, note, _ = client.post("/notes", {"title": "y"})
    status, payload, _ = client.request("PATCH", f"/notes/{note['id']}", {"tags": tags})
    assert status == 400 and "error" in payload


def test_filter_by_tag_case_insensitively(client):
    client.post("/notes", {"title": "a", "tags": ["work"]})
    client.post("/notes", {"title": "b", "tags": ["home"]})
    client.post("/notes", {"title": "c", "tags": ["Work", "urgent"]})
    _, payload, _ = client.get("/notes?tag=WORK")
    assert [n["title"] for n in payload["notes"]] == ["a", "c"]
    assert payload["total"] == 2
    assert client.get("/notes?tag=nothing")[1]["total"] == 0


def test_tag_filter_combines_with_search_and_paging(client):
    for n in range(6):
        client.post("/notes", {"title": f"report {n}" if n % 2 else f"memo {n}", "tags": ["work"]})
    client.post("/notes", {"title": "report home", "tags": ["home"]})
    _, payload, _ = client.get("/notes?tag=work&q=report&limit=2")
    assert [n["title"] for n in payload["notes"]] == ["report 1", "report 3"]
    assert payload["total"] == 3


def test_old_database_without_tags_column_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, "
        "body TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO notes (title, body, created_at, updated_at) VALUES ('old', '', 'x', 'x')")
    conn.commit()
    conn.close()
    store = NoteStore(path)
    assert store.get(1)["tags"] == []
    assert store.update(1, tags=["new"])["tags"] == ["new"]
