import json
import os

import pytest

import taskstore
from taskstore import TaskStore, TaskStoreError


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_opening_and_listing_do_not_create_the_file(path):
    store = TaskStore(path)
    store.list()
    assert not path.exists()
    store.add("first")
    assert path.exists()


def test_saving_leaves_only_the_task_file(path):
    store = TaskStore(path)
    for title in ["a", "b", "c"]:
        store.add(title)
    store.complete(1)
    store.remove(2)
    assert sorted(os.listdir(path.parent)) == ["tasks.json"]
    assert json.loads(path.read_text(encoding="utf-8"))["next_id"] == 4


def test_failed_replace_keeps_old_file_and_removes_temp_file(path, monkeypatch):
    store = TaskStore(path)
    store.add("keep me")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.add("lost")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["tasks.json"]
    assert [t.title for t in TaskStore(path).list()] == ["keep me"]


def test_failed_write_keeps_old_file(path, monkeypatch):
    store = TaskStore(path)
    store.add("keep me")
    before = path.read_bytes()

    def broken_dump(*args, **kwargs):
        raise RuntimeError("serialisation failed")

    monkeypatch.setattr(taskstore.json, "dump", broken_dump)
    with pytest.raises(RuntimeError):
        store.add("lost")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["tasks.json"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2, 3]",
        '{"next_id": 3}',
        '{"tasks": {"id": 1}}',
        '{"tasks": [{"title": "no id"}]}',
        '{"tasks": [{"id": 1, "title": 5, "done": false}]}',
        '{"next_id": "x", "tasks": []}',
    ],
)
def test_unusable_files_raise_task_store_error_and_stay_untouched(path, content):
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaskStoreError):
        TaskStore(path)
    assert path.read_text(encoding="utf-8") == content


def test_get_with_unhashable_id_is_not_found(path):
    store = TaskStore(path)
    with pytest.raises(taskstore.TaskNotFound):
        store.get([1])
