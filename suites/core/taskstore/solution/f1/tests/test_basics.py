import json
import shutil
from pathlib import Path

import pytest

from taskstore import TaskNotFound, TaskStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tasks.json"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_new_store_is_empty(path):
    assert TaskStore(path).list() == []


def test_add_assigns_increasing_ids_and_trims_titles(path):
    store = TaskStore(path)
    first = store.add("  Buy milk  ")
    second = store.add("Call mum")
    assert (first.id, first.title, first.done) == (1, "Buy milk", False)
    assert second.id == 2


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_blank_title_is_rejected(path, title):
    with pytest.raises(ValueError):
        TaskStore(path).add(title)


def test_complete_get_and_filter(path):
    store = TaskStore(path)
    a = store.add("a")
    b = store.add("b")
    assert store.complete(a.id).done is True
    assert store.complete(a.id).done is True  # already done: harmless
    assert store.get(a.id).done is True
    assert [t.id for t in store.list()] == [a.id, b.id]
    assert [t.id for t in store.list(done=True)] == [a.id]
    assert [t.id for t in store.list(done=False)] == [b.id]


def test_remove(path):
    store = TaskStore(path)
    a = store.add("a")
    store.add("b")
    store.remove(a.id)
    assert [t.title for t in store.list()] == ["b"]


@pytest.mark.parametrize("method", ["get", "complete", "remove"])
def test_unknown_id_raises_task_not_found(path, method):
    store = TaskStore(path)
    store.add("a")
    with pytest.raises(TaskNotFound):
        getattr(store, method)(42)
    assert issubclass(TaskNotFound, KeyError)


def test_changes_are_persisted(path):
    store = TaskStore(path)
    a = store.add("Buy milk")
    store.add("Call mum")
    store.complete(a.id)
    reopened = TaskStore(path)
    assert [(t.id, t.title, t.done) for t in reopened.list()] == [(1, "Buy milk", True), (2, "Call mum", False)]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["next_id"] == 3


def test_ids_are_not_reused_after_reopening(path):
    store = TaskStore(path)
    store.add("a")
    last = store.add("b")
    store.remove(last.id)
    assert TaskStore(path).add("c").id == 3


def test_opens_the_old_format(tmp_path):
    copy = tmp_path / "tasks.json"
    shutil.copy(EXAMPLE, copy)
    store = TaskStore(copy)
    assert [(t.id, t.done) for t in store.list()] == [(1, True), (2, False), (4, False)]
    assert store.add("New").id == 5


def test_file_without_next_id_continues_after_highest_id(path):
    path.write_text(json.dumps({"tasks": [{"id": 7, "title": "x", "done": False}]}), encoding="utf-8")
    assert TaskStore(path).add("y").id == 8
