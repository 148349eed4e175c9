import re

from notes_store import NoteStore

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_create_returns_the_note_with_an_id(tmp_path):
    store = NoteStore(tmp_path / "notes.db")
    note = store.create("Groceries", "milk, eggs")
    assert note["id"] == 1
    assert note["title"] == "Groceries"
    assert note["body"] == "milk, eggs"
    assert TIMESTAMP.match(note["created_at"])
    assert note["updated_at"] == note["created_at"]


def test_ids_increase(tmp_path):
    store = NoteStore(tmp_path / "notes.db")
    assert [store.create(f"n{i}")["id"] for i in range(3)] == [1, 2, 3]


def test_body_defaults_to_empty(tmp_path):
    assert NoteStore(tmp_path / "notes.db").create("t")["body"] == ""


def test_get_unknown_is_none(tmp_path):
    assert NoteStore(tmp_path / "notes.db").get(42) is None


def test_notes_persist_across_store_instances(tmp_path):
    path = tmp_path / "notes.db"
    created = NoteStore(path).create("Keep me", "body")
    assert NoteStore(path).get(created["id"]) == created


def test_database_file_is_created(tmp_path):
    path = tmp_path / "fresh.db"
    NoteStore(path)
    assert path.exists()
