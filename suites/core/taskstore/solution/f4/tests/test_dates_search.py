import datetime
import json
import shutil
from pathlib import Path

import pytest

from taskstore import TaskStore, TaskStoreError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tasks.json"
D = datetime.date


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_due_date_is_kept_and_saved_as_iso_string(path):
    store = TaskStore(path)
    task = store.add("Pay rent", due=D(2024, 5, 1))
    assert task.due == D(2024, 5, 1)
    assert store.add("No date").due is None
    saved = json.loads(path.read_text(encoding="utf-8"))["tasks"]
    assert [t["due"] for t in saved] == ["2024-05-01", None]
    assert TaskStore(path).get(task.id).due == D(2024, 5, 1)


@pytest.mark.parametrize("due", ["2024-05-01", datetime.datetime(2024, 5, 1, 12, 0), 20240501])
def test_due_must_be_a_date(path, due):
    with pytest.raises(ValueError):
        TaskStore(path).add("x", due=due)


def test_overdue_lists_open_tasks_due_before_today(path):
    store = TaskStore(path)
    late2 = store.add("late 2", due=D(2024, 3, 2))
    store.add("due today", due=D(2024, 3, 10))
    late1 = store.add("late 1", due=D(2024, 3, 1))
    done = store.add("done late", due=D(2024, 1, 1))
    store.complete(done.id)
    store.add("no date")
    late2b = store.add("late 2b", due=D(2024, 3, 2))
    assert [t.id for t in store.overdue(today=D(2024, 3, 10))] == [late1.id, late2.id, late2b.id]


def test_overdue_defaults_to_today(path):
    store = TaskStore(path)
    yesterday = store.add("yesterday", due=D.today() - datetime.timedelta(days=1))
    store.add("tomorrow", due=D.today() + datetime.timedelta(days=1))
    assert [t.id for t in store.overdue()] == [yesterday.id]


def test_search_is_case_insensitive_on_titles(path):
    store = TaskStore(path)
    a = store.add("Buy MILK", tags=["milk-run"])
    store.add("Call mum")
    c = store.add("milkshake recipe")
    assert [t.id for t in store.search("milk")] == [a.id, c.id]
    assert store.search("bread") == []


def test_old_files_have_no_due_dates(tmp_path):
    copy = tmp_path / "tasks.json"
    shutil.copy(EXAMPLE, copy)
    store = TaskStore(copy)
    assert [t.due for t in store.list()] == [None, None, None]
    assert store.overdue(today=D(2100, 1, 1)) == []


def test_bad_due_in_file_is_a_task_store_error(path):
    path.write_text(json.dumps({"tasks": [{"id": 1, "title": "x", "done": False, "due": "soon"}]}))
    with pytest.raises(TaskStoreError):
        TaskStore(path)
