#!/usr/bin/env python3
"""notes_server: a small JSON-over-HTTP notes service (standard library only).

    python notes_server.py --port 8080 --db notes.db

Endpoints:
    POST   /notes          {"title": "...", "body": "..."}  -> 201 + the note
    GET    /notes          -> 200 {"notes": [...]}, oldest first
    GET    /notes/<id>     -> 200 + the note
    PATCH  /notes/<id>     {"title"?, "body"?}  -> 200 + the updated note
    DELETE /notes/<id>     -> 204
Unknown notes and paths are 404. Every response except 204 is JSON (`Content-Type:
application/json`); errors are {"error": "message"}.
"""

import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from notes_store import NoteStore

NOTE_PATH = re.compile(r"^/notes/(\d+)$")


class ApiError(Exception):
    """An error answered as {"error": message} with an HTTP status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


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

    def _handle(self, method):
        raw_body = self._read_body()
        try:
            path = urlsplit(self.path).path
            status, payload = self._dispatch(method, path, raw_body)
        except ApiError as exc:
            status, payload = exc.status, {"error": exc.message}
        except Exception as exc:  # noqa: BLE001 - never leave a request unanswered
            self.log_error("internal error: %r", exc)
            status, payload = 500, {"error": "internal server error"}
        self._send(status, payload)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, payload):
        self.send_response(status)
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

    def _dispatch(self, method, path, raw_body):
        if path == "/notes":
            if method == "GET":
                return self.list_notes()
            if method == "POST":
                return self.create_note(raw_body)
        match = NOTE_PATH.match(path)
        if match:
            note_id = int(match.group(1))
            if method == "GET":
                return self.get_note(note_id)
            if method == "PATCH":
                return self.update_note(note_id, raw_body)
            if method == "DELETE":
                return self.delete_note(note_id)
        raise ApiError(404, f"no such resource: {method} {path}")

    def list_notes(self):
        return 200, {"notes": self.store.list_notes()}

    def create_note(self, raw_body):
        data = parse_json_object(raw_body)
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ApiError(400, "title is required")
        body = data.get("body", "")
        return 201, self.store.create(title.strip(), body)

    def get_note(self, note_id):
        note = self.store.get(note_id)
        if note is None:
            raise ApiError(404, f"note {note_id} not found")
        return 200, note

    def update_note(self, note_id, raw_body):
        data = parse_json_object(raw_body)
        changes = {name: data[name] for name in ("title", "body") if name in data}
        if "title" in changes:
            changes["title"] = str(changes["title"]).strip()
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
