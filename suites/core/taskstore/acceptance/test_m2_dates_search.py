"""Hidden acceptance tests, milestone m2: due dates, overdue tasks and search."""

import datetime
import shutil
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tasks.json"
D = datetime.date


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_due_date_round_trips_as_a_date(ts, path):
    store = ts.TaskStore(path)
    task = store.add("Pay rent", due=D(2024, 5, 1))
    assert task.due == D(2024, 5, 1)
    assert store.add("Someday").due is None
    reopened = ts.TaskStore(path)
    assert reopened.get(task.id).due == D(2024, 5, 1)
    assert isinstance(reopened.get(task.id).due, D)
    assert reopened.get(task.id + 1).due is None


def test_due_date_is_stored_as_iso_string(ts, path):
    ts.TaskStore(path).add("Pay rent", due=D(2024, 5, 1))
    assert "2024-05-01" in path.read_text(encoding="utf-8")


def test_overdue_sorts_by_due_date_then_id_and_skips_done_and_undated(ts, path):
    store = ts.TaskStore(path)
    b = store.add("b", due=D(2024, 3, 5))
    store.add("due today", due=D(2024, 3, 10))
    a = store.add("a", due=D(2024, 3, 1))
    done = store.add("done", due=D(2024, 2, 1))
    store.complete(done.id)
    store.add("no due date")
    b2 = store.add("b2", due=D(2024, 3, 5))
    store.add("future", due=D(2024, 4, 1))
    assert [t.id for t in store.overdue(today=D(2024, 3, 10))] == [a.id, b.id, b2.id]
    assert [t.id for t in store.overdue(today=D(2024, 3, 1))] == []


def test_overdue_defaults_to_today(ts, path):
    store = ts.TaskStore(path)
    late = store.add("late", due=D.today() - datetime.timedelta(days=2))
    store.add("today", due=D.today())
    store.add("soon", due=D.today() + datetime.timedelta(days=3))
    assert [t.id for t in store.overdue()] == [late.id]


def test_search_matches_titles_ignoring_case(ts, path):
    store = ts.TaskStore(path)
    a = store.add("Buy MILK")
    store.add("Call mum", tags=["milk"])
    c = store.add("oat milk recipe")
    assert [t.id for t in store.search("milk")] == [a.id, c.id]
    assert [t.id for t in store.search("Milk")] == [a.id, c.id]
    assert list(store.search("bread")) == []


def test_old_file_tasks_have_no_due_date(ts, tmp_path):
    copy = tmp_path / "tasks.json"
    shutil.copy(EXAMPLE, copy)
    store = ts.TaskStore(copy)
    assert [t.due for t in store.list()] == [None, None, None]
    assert list(store.overdue(today=D(2100, 1, 1))) == []
    assert [t.id for t in store.search("BIKE")] == [4]


def test_tags_and_due_together(ts, path):
    store = ts.TaskStore(path)
    task = store.add("File taxes", tags=["Admin"], due=D(2024, 4, 15))
    store.tag(task.id, "urgent")
    reopened = ts.TaskStore(path)
    again = reopened.get(task.id)
    assert list(again.tags) == ["admin", "urgent"]
    assert again.due == D(2024, 4, 15)
    assert [t.id for t in reopened.overdue(today=D(2024, 5, 1))] == [task.id]
