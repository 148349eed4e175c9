import json
import shutil
from pathlib import Path

import pytest

from taskstore import TaskNotFound, TaskStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tasks.json"


@pytest.fixture
def store(tmp_path):
    return TaskStore(tmp_path / "tasks.json")


def test_tags_are_normalised(store):
    task = store.add("Plan trip", tags=["Travel", " travel ", "TODO"])
    assert task.tags == ["todo", "travel"]


def test_tasks_without_tags_have_an_empty_list(store):
    assert store.add("plain").tags == []


@pytest.mark.parametrize("tags", [["ok", " "], [""], "work", [3]])
def test_bad_tags_are_rejected(store, tags):
    with pytest.raises(ValueError):
        store.add("x", tags=tags)
    assert store.list() == []


def test_tag_and_untag(store):
    task = store.add("x", tags=["a"])
    assert store.tag(task.id, "B", "c").tags == ["a", "b", "c"]
    assert store.untag(task.id, "A", "missing").tags == ["b", "c"]
    with pytest.raises(TaskNotFound):
        store.tag(99, "a")
    with pytest.raises(TaskNotFound):
        store.untag(99, "a")


def test_list_filters_by_tag_case_insensitively(store):
    a = store.add("a", tags=["work"])
    b = store.add("b", tags=["home"])
    c = store.add("c", tags=["work", "urgent"])
    store.complete(c.id)
    assert [t.id for t in store.list(tag="WORK")] == [a.id, c.id]
    assert [t.id for t in store.list(tag="work", done=False)] == [a.id]
    assert [t.id for t in store.list(tag="home", done=True)] == []
    assert [t.id for t in store.list(tag="nothing")] == []
    assert b.id not in [t.id for t in store.list(tag="work")]


def test_tags_are_persisted(tmp_path):
    path = tmp_path / "tasks.json"
    store = TaskStore(path)
    task = store.add("x", tags=["Home"])
    store.tag(task.id, "errand")
    assert TaskStore(path).get(task.id).tags == ["errand", "home"]
    saved = json.loads(path.read_text(encoding="utf-8"))["tasks"][0]
    assert saved["tags"] == ["errand", "home"]


def test_old_files_have_no_tags(tmp_path):
    copy = tmp_path / "tasks.json"
    shutil.copy(EXAMPLE, copy)
    assert [t.tags for t in TaskStore(copy).list()] == [[], [], []]
