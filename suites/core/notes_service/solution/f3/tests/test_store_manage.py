import pytest

import notes_store
from notes_store import NoteStore


@pytest.fixture
def store(tmp_path):
    return NoteStore(tmp_path / "notes.db")


def test_list_notes_oldest_first(store):
    ids = [store.create(title)["id"] for title in ["a", "b", "c"]]
    assert [note["id"] for note in store.list_notes()] == ids


def test_list_notes_empty(store):
    assert store.list_notes() == []


def test_update_changes_only_given_fields(store):
    note = store.create("old title", "old body")
    updated = store.update(note["id"], title="new title")
    assert updated["title"] == "new title"
    assert updated["body"] == "old body"
    assert updated["created_at"] == note["created_at"]
    assert updated["updated_at"] >= note["updated_at"]


def test_update_bumps_updated_at(store, monkeypatch):
    monkeypatch.setattr(notes_store, "utc_now", lambda: "2024-01-01T00:00:00Z")
    note = store.create("t")
    monkeypatch.setattr(notes_store, "utc_now", lambda: "2024-01-02T08:00:00Z")
    updated = store.update(note["id"], body="x")
    assert updated["created_at"] == "2024-01-01T00:00:00Z"
    assert updated["updated_at"] == "2024-01-02T08:00:00Z"


def test_update_unknown_is_none(store):
    assert store.update(5, title="x") is None


def test_update_rejects_unknown_columns(store):
    note = store.create("t")
    with pytest.raises(ValueError):
        store.update(note["id"], id=7)


def test_delete(store):
    note = store.create("t")
    assert store.delete(note["id"]) is True
    assert store.get(note["id"]) is None
    assert store.delete(note["id"]) is False


def test_ids_are_not_reused_after_delete(store):
    store.create("a")
    last = store.create("b")
    store.delete(last["id"])
    assert store.create("c")["id"] == last["id"] + 1
