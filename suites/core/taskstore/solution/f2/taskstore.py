"""taskstore: a small todo-list store kept in a JSON file.

    from taskstore import TaskStore, TaskNotFound, TaskStoreError

    store = TaskStore("tasks.json")
    task = store.add("Buy milk")
    store.complete(task.id)

File format: {"next_id": N, "tasks": [{"id": 1, "title": "...", "done": false}, ...]}
Every change rewrites the whole file atomically (temporary file + os.replace).
"""

import json
import os
import tempfile
from dataclasses import dataclass

__all__ = ["Task", "TaskNotFound", "TaskStore", "TaskStoreError"]


class TaskStoreError(Exception):
    """The task file exists but cannot be used."""


class TaskNotFound(KeyError):
    """No task has the given id."""


@dataclass
class Task:
    id: int
    title: str
    done: bool = False

    def to_dict(self):
        return {"id": self.id, "title": self.title, "done": self.done}

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise TaskStoreError(f"a task must be an object, got {data!r}")
        task_id, title, done = data.get("id"), data.get("title"), data.get("done", False)
        if not isinstance(task_id, int) or isinstance(task_id, bool):
            raise TaskStoreError(f"task id must be an integer, got {task_id!r}")
        if not isinstance(title, str):
            raise TaskStoreError(f"task {task_id}: title must be a string")
        if not isinstance(done, bool):
            raise TaskStoreError(f"task {task_id}: done must be true or false")
        return cls(id=task_id, title=title, done=done)


def _clean_title(title):
    if not isinstance(title, str):
        raise ValueError("a task title must be a string")
    title = title.strip()
    if not title:
        raise ValueError("a task title must not be empty")
    return title


def write_json_atomically(path, data):
    """Write `data` as JSON to `path` via a temporary file in the same folder and os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".tasks-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise


class TaskStore:
    """Tasks kept in a JSON file; every change is saved immediately."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._tasks = {}
        self._next_id = 1
        if os.path.exists(self.path):
            self._load()

    # -- queries -------------------------------------------------------------------------------

    def get(self, task_id):
        try:
            return self._tasks[task_id]
        except (KeyError, TypeError):
            raise TaskNotFound(task_id) from None

    def list(self, done=None):
        tasks = sorted(self._tasks.values(), key=lambda task: task.id)
        if done is not None:
            tasks = [task for task in tasks if task.done == done]
        return tasks

    # -- changes -------------------------------------------------------------------------------

    def add(self, title):
        task = Task(id=self._next_id, title=_clean_title(title))
        self._tasks[task.id] = task
        self._next_id += 1
        self._save()
        return task

    def complete(self, task_id):
        task = self.get(task_id)
        if not task.done:
            task.done = True
            self._save()
        return task

    def remove(self, task_id):
        task = self.get(task_id)
        del self._tasks[task_id]
        self._save()
        return task

    # -- persistence ---------------------------------------------------------------------------

    def _load(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TaskStoreError(f"{self.path} is not a JSON task file: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
            raise TaskStoreError(f"{self.path} is not a task file: expected an object with a 'tasks' list")
        tasks = [Task.from_dict(item) for item in data["tasks"]]
        self._tasks = {task.id: task for task in tasks}
        highest = max(self._tasks, default=0)
        next_id = data.get("next_id", 1)
        if not isinstance(next_id, int) or isinstance(next_id, bool):
            raise TaskStoreError(f"{self.path}: next_id must be an integer")
        self._next_id = max(next_id, highest + 1)

    def _save(self):
        data = {"next_id": self._next_id, "tasks": [task.to_dict() for task in self.list()]}
        write_json_atomically(self.path, data)
