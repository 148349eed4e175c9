"""notes_store: notes kept in a SQLite database (standard library only).

A note is returned as a plain dict:
    {"id": 1, "title": "...", "body": "...", "tags": ["home"],
     "created_at": "2024-05-01T09:30:00Z", "updated_at": "..."}
Tags are stored as a JSON list in a text column (added to older databases on open).
Every method opens its own connection, so one store can be shared by the server's threads.
"""

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""

COLUMNS = "id, title, body, tags, created_at, updated_at"


def utc_now():
    """The current time in UTC as an ISO 8601 string, e.g. 2024-05-01T09:30:00Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_to_note(row):
    return {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "tags": json.loads(row["tags"] or "[]"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class NoteStore:
    """Notes in the SQLite database at `path` (created if missing)."""

    def __init__(self, path):
        self.path = str(path)
        with self._db() as conn:
            conn.execute(SCHEMA)
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(notes)")}
            if "tags" not in columns:  # database written before notes had tags
                conn.execute("ALTER TABLE notes ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'")

    @contextmanager
    def _db(self):
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            with conn:  # commits on success, rolls back on error
                yield conn
        finally:
            conn.close()

    def create(self, title, body="", tags=()):
        now = utc_now()
        with self._db() as conn:
            cursor = conn.execute(
                "INSERT INTO notes (title, body, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (title, body, json.dumps(list(tags)), now, now),
            )
            note_id = cursor.lastrowid
        return self.get(note_id)

    def get(self, note_id):
        """The note with `note_id`, or None."""
        with self._db() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM notes WHERE id = ?", (note_id,)).fetchone()
        return row_to_note(row) if row else None

    def list_notes(self):
        """All notes, oldest first."""
        with self._db() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM notes ORDER BY id").fetchall()
        return [row_to_note(row) for row in rows]

    def search(self, q=None, tag=None, limit=None, offset=0):
        """Notes matching `q` (case-insensitive, in title or body) and having `tag`, oldest first, paged.

        Returns (notes of the page, total number of matches).
        """
        notes = self.list_notes()
        if q:
            needle = q.casefold()
            notes = [n for n in notes if needle in n["title"].casefold() or needle in n["body"].casefold()]
        if tag:
            notes = [n for n in notes if tag in n["tags"]]
        total = len(notes)
        end = None if limit is None else offset + limit
        return notes[offset:end], total

    def update(self, note_id, **changes):
        """Change some of `title` / `body` / `tags`; returns the updated note, or None if there is none."""
        allowed = {"title", "body", "tags"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if self.get(note_id) is None:
            return None
        assignments = ", ".join(f"{name} = ?" for name in sorted(changes))
        values = [json.dumps(list(changes[name])) if name == "tags" else changes[name] for name in sorted(changes)]
        with self._db() as conn:
            conn.execute(
                f"UPDATE notes SET {assignments}{', ' if assignments else ''}updated_at = ? WHERE id = ?",
                (*values, utc_now(), note_id),
            )
        return self.get(note_id)

    def delete(self, note_id):
        """Delete a note; True if it existed."""
        with self._db() as conn:
            cursor = conn.execute("DELETE FROM notes WHERE id = ?", (note_id,))
        return cursor.rowcount > 0
