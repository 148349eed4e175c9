"""Hidden acceptance tests, milestone m1: saving to and loading from the JSON file."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tasks.json"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tasks.json"


def test_changes_are_visible_to_a_new_store(ts, path):
    store = ts.TaskStore(path)
    a = store.add("Buy milk")
    store.add("Call mum")
    b = store.add("Water plants")
    store.complete(a.id)
    store.remove(b.id)
    reopened = ts.TaskStore(path)
    assert [(t.id, t.title, t.done) for t in reopened.list()] == [(1, "Buy milk", True), (2, "Call mum", False)]


def test_another_process_sees_the_changes(ts, path):
    ts.TaskStore(path).add("from the test")
    code = (
        "import sys\n"
        "from taskstore import TaskStore\n"
        "s = TaskStore(sys.argv[1])\n"
        "s.add('from the child')\n"
        "print('|'.join(t.title for t in s.list()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from the test|from the child"
    assert [t.title for t in ts.TaskStore(path).list()] == ["from the test", "from the child"]


def test_file_is_plain_json_with_the_titles(ts, path):
    store = ts.TaskStore(path)
    store.add("Buy milk")
    store.add("Call mum")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    assert [t["title"] for t in data["tasks"]] == ["Buy milk", "Call mum"]


def test_opening_and_listing_do_not_create_the_file(ts, path):
    store = ts.TaskStore(path)
    store.list()
    store.list(done=True)
    assert not path.exists()


def test_old_format_file_opens_and_continues_numbering(ts, tmp_path):
    copy = tmp_path / "tasks.json"
    shutil.copy(EXAMPLE, copy)
    store = ts.TaskStore(copy)
    assert [(t.id, t.title, t.done) for t in store.list()] == [
        (1, "Renew passport", True),
        (2, "Book dentist appointment", False),
        (4, "Fix the bike light", False),
    ]
    assert [t.id for t in store.list(done=False)] == [2, 4]
    assert store.add("Buy stamps").id == 5
    assert ts.TaskStore(copy).add("Post letter").id == 6


def test_no_temporary_files_are_left_behind(ts, path):
    store = ts.TaskStore(path)
    for n in range(5):
        store.add(f"task {n}")
    store.complete(2)
    store.remove(3)
    assert sorted(os.listdir(path.parent)) == ["tasks.json"]


def test_failed_save_keeps_the_old_file_and_cleans_up(ts, path, monkeypatch):
    store = ts.TaskStore(path)
    store.add("precious")
    before = path.read_bytes()

    def failing_replace(*args, **kwargs):
        raise OSError("simulated failure")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        store.add("never saved")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["tasks.json"]
    assert [t.title for t in ts.TaskStore(path).list()] == ["precious"]


@pytest.mark.parametrize(
    "content",
    ["{this is not json", "[]", "null", '"tasks"', '{"tasks": "none"}'],
    ids=["invalid-json", "array", "null", "string", "tasks-not-a-list"],
)
def test_unusable_file_raises_task_store_error_and_is_left_alone(ts, path, content):
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ts.TaskStoreError):
        ts.TaskStore(path)
    assert path.read_text(encoding="utf-8") == content
