#!/usr/bin/env python3
"""notes_server: a small JSON-over-HTTP notes service (standard library only).

    python notes_server.py --port 8080 --db notes.db

Endpoints:
    POST   /notes          {"title": "...", "body": "...", "tags": [...]}  -> 201 + the note
    GET    /notes          -> 200 {"notes": [...], "total": N, "limit": L, "offset": O}, oldest first
                           query: q (search title/body, case-insensitive), tag (case-insensitive),
                           limit (1-100, default 20), offset (>= 0, default 0)
    GET    /notes/<id>     -> 200 + the note
    PATCH  /notes/<id>     {"title"?, "body"?, "tags"?}  -> 200 + the updated note
    DELETE /notes/<id>     -> 204
Unknown notes and paths are 404, an unsupported method on a known path is 405, invalid input is
400 (see `validate_note`). Every response except 204 is JSON (`Content-Type: application/json`);
errors are {"error": "message"}.
"""

import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from notes_store import NoteStore

NOTE_PATH = re.compile(r"^/notes/(\d+)$")
NOTE_FIELDS = ("title", "body", "tags")
MAX_TITLE_LENGTH = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class ApiError(Exception):
    """An error answered as {"error": message} with an HTTP status."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class NotesHandler(BaseHTTPRequestHandler):
    server_version = "NotesService/1.0"

    # -- plumbing ------------------------------------------------------------------------------

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PUT(self):
        self._handle("PUT")

    def _handle(self, method):
        raw_body = self._read_body()
        headers = {}
        try:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            status, payload = self._dispatch(method, url.path, query, raw_body)
        except ApiError as exc:
            status, payload, headers = exc.status, {"error": exc.message}, exc.headers
        except Exception as exc:  # noqa: BLE001 - never leave a request unanswered
            self.log_error("internal error: %r", exc)
            status, payload = 500, {"error": "internal server error"}
        self._send(status, payload, headers)

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, payload, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is None:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(payload).encode("utf-8")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @property
    def store(self):
        return self.server.store

    # -- routes --------------------------------------------------------------------------------

    def _dispatch(self, method, path, query, raw_body):
        match = NOTE_PATH.match(path)
        if path == "/notes":
            routes = {
                "GET": lambda: self.list_notes(query),
                "POST": lambda: self.create_note(raw_body),
            }
        elif match:
            note_id = int(match.group(1))
            routes = {
                "GET": lambda: self.get_note(note_id),
                "PATCH": lambda: self.update_note(note_id, raw_body),
                "DELETE": lambda: self.delete_note(note_id),
            }
        else:
            raise ApiError(404, f"no such resource: {path}")
        action = routes.get(method)
        if action is None:
            allowed = ", ".join(sorted(routes))
            raise ApiError(405, f"{method} is not allowed on {path} (allowed: {allowed})", {"Allow": allowed})
        return action()

    def list_notes(self, query):
        limit = int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = int_param(query, "offset", 0, 0, None)
        q = last_value(query, "q")
        tag = (last_value(query, "tag") or "").strip().lower()
        notes, total = self.store.search(q=q or None, tag=tag or None, limit=limit, offset=offset)
        return 200, {"notes": notes, "total": total, "limit": limit, "offset": offset}

    def create_note(self, raw_body):
        fields = validate_note(parse_json_object(raw_body), partial=False)
        return 201, self.store.create(**fields)

    def get_note(self, note_id):
        note = self.store.get(note_id)
        if note is None:
            raise ApiError(404, f"note {note_id} not found")
        return 200, note

    def update_note(self, note_id, raw_body):
        changes = validate_note(parse_json_object(raw_body), partial=True)
        note = self.store.update(note_id, **changes)
        if note is None:
            raise ApiError(404, f"note {note_id} not found")
        return 200, note

    def delete_note(self, note_id):
        if not self.store.delete(note_id):
            raise ApiError(404, f"note {note_id} not found")
        return 204, None


def parse_json_object(raw_body):
    try:
        data = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "request body must be valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def last_value(query, name):
    values = query.get(name)
    return values[-1] if values else None


def int_param(query, name, default, minimum, maximum):
    """A whole-number query parameter within [minimum, maximum]; ApiError(400) otherwise."""
    raw = last_value(query, name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if maximum is not None and not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be between {minimum} and {maximum}, got {value}")
    if value < minimum:
        raise ApiError(400, f"{name} must be at least {minimum}, got {value}")
    return value


def validate_note(data, partial):
    """Check the fields of a create (partial=False) or PATCH (partial=True) request.

    Returns the cleaned fields; raises ApiError(400) with a readable message.
    """
    unknown = sorted(set(data) - set(NOTE_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
    if partial and not data:
        raise ApiError(400, f"nothing to update: give at least one of {', '.join(NOTE_FIELDS)}")
    clean = {}
    if "title" in data or not partial:
        if "title" not in data:
            raise ApiError(400, "title is required")
        title = data["title"]
        if not isinstance(title, str):
            raise ApiError(400, "title must be a string")
        title = title.strip()
        if not title:
            raise ApiError(400, "title must not be blank")
        if len(title) > MAX_TITLE_LENGTH:
            raise ApiError(400, f"title must be at most {MAX_TITLE_LENGTH} characters")
        clean["title"] = title
    if "body" in data:
        if not isinstance(data["body"], str):
            raise ApiError(400, "body must be a string")
        clean["body"] = data["body"]
    if "tags" in data:
        clean["tags"] = normalize_tags(data["tags"])
    return clean


def normalize_tags(tags):
    """Tags: a list of non-blank strings; stored trimmed, lower-cased, de-duplicated and sorted."""
    if not isinstance(tags, list):
        raise ApiError(400, "tags must be a list of strings")
    clean = set()
    for tag in tags:
        if not isinstance(tag, str):
            raise ApiError(400, "tags must be a list of strings")
        tag = tag.strip().lower()
        if not tag:
            raise ApiError(400, "tags must not be blank")
        clean.add(tag)
    return sorted(clean)


def make_server(host, port, db_path):
    """A ready-to-serve HTTP server for the notes in `db_path`; port 0 picks a free port."""
    server = ThreadingHTTPServer((host, port), NotesHandler)
    server.daemon_threads = True
    server.store = NoteStore(db_path)
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="JSON-over-HTTP notes service")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--db", default="notes.db", help="SQLite database file (default notes.db)")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.db)
    host, port = server.server_address[:2]
    print(f"notes service listening on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
