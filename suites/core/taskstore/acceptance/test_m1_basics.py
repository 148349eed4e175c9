"""Hidden acceptance tests, milestone m1: adding, completing, listing and removing tasks."""

import pytest



@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_new_store_on_missing_file_is_empty(ts, path):
    assert list(ts.TaskStore(path).list()) == []


def test_add_returns_task_with_first_id_1(ts, path):
    task = ts.TaskStore(path).add("Buy milk")
    assert task.id == 1
    assert task.title == "Buy milk"
    assert task.done is False


def test_ids_increase_and_titles_are_trimmed(ts, path):
    store = ts.TaskStore(path)
    ids = [store.add(title).id for title in ["  one ", "two", "three\n"]]
    assert ids == [1, 2, 3]
    assert [t.title for t in store.list()] == ["one", "two", "three"]


@pytest.mark.parametrize("title", ["", "    ", "\t\n"], ids=["empty", "spaces", "whitespace"])
def test_blank_titles_are_value_errors(ts, path, title):
    store = ts.TaskStore(path)
    with pytest.raises(ValueError):
        store.add(title)
    assert list(store.list()) == []


def test_complete_and_filter_by_done(ts, path):
    store = ts.TaskStore(path)
    a = store.add("a")
    b = store.add("b")
    c = store.add("c")
    done = store.complete(b.id)
    assert done.id == b.id and done.done is True
    assert store.get(b.id).done is True
    assert [t.id for t in store.list()] == [a.id, b.id, c.id]
    assert [t.id for t in store.list(done=False)] == [a.id, c.id]
    assert [t.id for t in store.list(done=True)] == [b.id]


def test_completing_twice_is_harmless(ts, path):
    store = ts.TaskStore(path)
    task = store.add("a")
    store.complete(task.id)
    assert store.complete(task.id).done is True
    assert [t.done for t in ts.TaskStore(path).list()] == [True]


def test_remove_deletes_the_task(ts, path):
    store = ts.TaskStore(path)
    a = store.add("a")
    b = store.add("b")
    store.remove(a.id)
    assert [t.id for t in store.list()] == [b.id]
    with pytest.raises(ts.TaskNotFound):
        store.get(a.id)


@pytest.mark.parametrize("method", ["get", "complete", "remove"])
def test_unknown_ids_raise_task_not_found_which_is_a_key_error(ts, path, method):
    store = ts.TaskStore(path)
    store.add("a")
    with pytest.raises(ts.TaskNotFound):
        getattr(store, method)(404)
    with pytest.raises(KeyError):
        getattr(store, method)(405)


def test_ids_are_never_reused(ts, path):
    store = ts.TaskStore(path)
    store.add("a")
    store.add("b")
    newest = store.add("c")
    store.remove(newest.id)
    assert store.add("d").id == 4
    store.remove(4)
    assert ts.TaskStore(path).add("e").id == 5
