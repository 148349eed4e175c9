"""Hidden acceptance tests, milestone m2: tags."""

import shutil
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tasks.json"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_tags_are_lowercased_trimmed_deduplicated_and_sorted(ts, path):
    task = ts.TaskStore(path).add("Plan the trip", tags=["Travel", "  urgent ", "TRAVEL", "admin"])
    assert list(task.tags) == ["admin", "travel", "urgent"]


def test_task_without_tags_has_none(ts, path):
    assert list(ts.TaskStore(path).add("Plain").tags) == []


@pytest.mark.parametrize("tags", [[""], ["ok", "   "]], ids=["empty", "blank"])
def test_blank_tags_are_value_errors(ts, path, tags):
    store = ts.TaskStore(path)
    with pytest.raises(ValueError):
        store.add("x", tags=tags)


def test_tag_and_untag_return_the_updated_task(ts, path):
    store = ts.TaskStore(path)
    task = store.add("Write report", tags=["work"])
    tagged = store.tag(task.id, "Urgent", "q3")
    assert list(tagged.tags) == ["q3", "urgent", "work"]
    untagged = store.untag(task.id, "WORK", "not-there")
    assert list(untagged.tags) == ["q3", "urgent"]
    assert list(store.get(task.id).tags) == ["q3", "urgent"]


def test_tag_unknown_task_raises_task_not_found(ts, path):
    store = ts.TaskStore(path)
    with pytest.raises(ts.TaskNotFound):
        store.tag(12, "x")
    with pytest.raises(ts.TaskNotFound):
        store.untag(12, "x")


def test_list_by_tag_is_case_insensitive_and_combines_with_done(ts, path):
    store = ts.TaskStore(path)
    a = store.add("a", tags=["work"])
    store.add("b", tags=["home"])
    c = store.add("c", tags=["Work", "urgent"])
    d = store.add("d")
    store.complete(c.id)
    assert [t.id for t in store.list(tag="work")] == [a.id, c.id]
    assert [t.id for t in store.list(tag="WORK")] == [a.id, c.id]
    assert [t.id for t in store.list(tag="work", done=True)] == [c.id]
    assert [t.id for t in store.list(tag="work", done=False)] == [a.id]
    assert [t.id for t in store.list(tag="nope")] == []
    assert d.id in [t.id for t in store.list()]


def test_tags_survive_reopening(ts, path):
    store = ts.TaskStore(path)
    task = store.add("x", tags=["Home"])
    store.tag(task.id, "errand")
    reopened = ts.TaskStore(path)
    assert list(reopened.get(task.id).tags) == ["errand", "home"]
    assert [t.id for t in reopened.list(tag="errand")] == [task.id]


def test_old_file_tasks_have_no_tags(ts, tmp_path):
    copy = tmp_path / "tasks.json"
    shutil.copy(EXAMPLE, copy)
    store = ts.TaskStore(copy)
    assert [list(t.tags) for t in store.list()] == [[], [], []]
    store.tag(2, "health")
    assert [t.id for t in ts.TaskStore(copy).list(tag="health")] == [2]
