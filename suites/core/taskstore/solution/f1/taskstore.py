"""taskstore: a small todo-list store kept in a JSON file.

    from taskstore import TaskStore, TaskNotFound

    store = TaskStore("tasks.json")
    task = store.add("Buy milk")
    store.complete(task.id)

File format: {"next_id": N, "tasks": [{"id": 1, "title": "...", "done": false}, ...]}
"""

import json
import os
from dataclasses import dataclass

__all__ = ["Task", "TaskNotFound", "TaskStore"]


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
        return cls(id=data["id"], title=data["title"], done=bool(data.get("done", False)))


def _clean_title(title):
    if not isinstance(title, str):
        raise ValueError("a task title must be a string")
    title = title.strip()
    if not title:
        raise ValueError("a task title must not be empty")
    return title


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
        except KeyError:
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
        with open(self.path, encoding="utf-8") as handle:
            data = json.load(handle)
        tasks = [Task.from_dict(item) for item in data["tasks"]]
        self._tasks = {task.id: task for task in tasks}
        highest = max(self._tasks, default=0)
        self._next_id = max(int(data.get("next_id", 1)), highest + 1)

    def _save(self):
        data = {"next_id": self._next_id, "tasks": [task.to_dict() for task in self.list()]}
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
