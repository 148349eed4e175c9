#!/usr/bin/env python3
"""chat_server: a small team chat over HTTP (standard library only).

    python chat_server.py --port 8080 --db chat.db [--host 127.0.0.1]

Serves the page at `/` (files from `static/`) and a JSON API under `/api/`:

    POST /api/signup                         {"username", "password"} -> 201 {"user", "token"} + cookie
    POST /api/signin                         {"username", "password"} -> 200 {"user", "token"} + cookie
    POST /api/signout                        -> 204, the session ends
    GET  /api/me                             -> 200 {"user"}

Every API route except sign-up and sign-in needs a session: the `session` cookie or an
`Authorization: Bearer <token>` header (else 401). Errors are {"error": "message"} with 400, 401,
403 (not a member), 404, 405 (with Allow) or 409 (taken names).
"""

import argparse
import json
import mimetypes
import re
import sys
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from chat_store import ChatError, ChatStore, Unauthorized

COOKIE_NAME = "session"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                ".ico": "image/x-icon"}


class ApiError(Exception):
    """An error answered as {"error": message} with an HTTP status."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Reply:
    """A JSON answer (or an empty 204) with extra headers."""

    def __init__(self, status, payload=None, headers=None):
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def session_cookie(token, clear=False):
    if clear:
        return f"{COOKIE_NAME}=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0"
    return f"{COOKIE_NAME}={token}; HttpOnly; Path=/; SameSite=Lax"


def json_object(raw):
    if not raw:
        raise ApiError(400, "the request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def only_fields(data, allowed, required=()):
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, "unknown field(s): " + ", ".join(unknown))
    for name in required:
        if name not in data:
            raise ApiError(400, f"{name} is required")


class ChatHandler(BaseHTTPRequestHandler):
    server_version = "TeamChat/1.0"
    protocol_version = "HTTP/1.1"

    # Routes: (pattern, {method: handler name}, needs a session).
    ROUTES = [
        (re.compile(r"^/api/signup$"), {"POST": "signup"}, False),
        (re.compile(r"^/api/signin$"), {"POST": "signin"}, False),
        (re.compile(r"^/api/signout$"), {"POST": "signout"}, True),
        (re.compile(r"^/api/me$"), {"GET": "me"}, True),
    ]

    @property
    def store(self):
        return self.server.store

    # -- plumbing ------------------------------------------------------------------------------

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)

    def _handle(self, method):
        raw_body = self._read_body()
        url = urlsplit(self.path)
        if not url.path.startswith("/api/") and url.path != "/api":
            self._serve_static(method, url.path)
            return
        try:
            reply = self._dispatch(method, url.path, parse_qs(url.query, keep_blank_values=True), raw_body)
        except ApiError as exc:
            reply = Reply(exc.status, {"error": exc.message}, exc.headers)
        except ChatError as exc:
            reply = Reply(exc.status, {"error": exc.message})
        except Exception as exc:  # noqa: BLE001 - never leave a request unanswered
            self.log_error("internal error: %r", exc)
            reply = Reply(500, {"error": "internal server error"})
        self._send_json(reply, head=(method == "HEAD"))

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method, path, query, raw_body):
        for pattern, methods, needs_session in self.ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            name = methods.get("GET" if method == "HEAD" else method)
            if name is None:
                allow = ", ".join(sorted(methods))
                raise ApiError(405, f"{method} is not allowed on {path}", {"Allow": allow})
            user = self._session_user() if needs_session else None
            args = [unquote(group) for group in match.groups()]
            return getattr(self, "api_" + name)(user, query, raw_body, *args)
        raise ApiError(404, f"no such path: {path}")

    def _token(self):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        morsel = cookie.get(COOKIE_NAME)
        return morsel.value if morsel else None

    def _session_user(self):
        user = self.store.user_for_token(self._token())
        if user is None:
            raise Unauthorized("sign in first")
        return user

    def _send_json(self, reply, head=False):
        data = b"" if reply.status == 204 else json.dumps(reply.payload).encode("utf-8")
        self.send_response(reply.status)
        if reply.status != 204:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data and not head:
            self.wfile.write(data)

    def _serve_static(self, method, path):
        if method not in ("GET", "HEAD"):
            self._send_json(Reply(405, {"error": f"{method} is not allowed on {path}"}, {"Allow": "GET, HEAD"}))
            return
        name = "index.html" if path == "/" else None
        if path.startswith("/static/"):
            name = unquote(path[len("/static/"):])
        if not name or not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", name):
            self._send_json(Reply(404, {"error": f"no such path: {path}"}))
            return
        file = STATIC_DIR / name
        if not file.is_file():
            self._send_json(Reply(404, {"error": f"no such path: {path}"}))
            return
        data = file.read_bytes()
        kind = STATIC_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if method == "GET":
            self.wfile.write(data)

    # -- accounts -------------------------------------------------------------------------------

    def _signed_in(self, status, user):
        token = self.store.create_session(user["id"])
        return Reply(status, {"user": user, "token": token}, {"Set-Cookie": session_cookie(token)})

    def api_signup(self, _user, _query, raw_body):
        data = json_object(raw_body)
        only_fields(data, ("username", "password"), ("username", "password"))
        user = self.store.create_user(data["username"], data["password"])
        return self._signed_in(201, user)

    def api_signin(self, _user, _query, raw_body):
        data = json_object(raw_body)
        only_fields(data, ("username", "password"), ("username", "password"))
        user = self.store.authenticate(data["username"], data["password"])
        if user is None:
            raise Unauthorized("wrong username or password")
        return self._signed_in(200, user)

    def api_signout(self, _user, _query, _raw_body):
        self.store.delete_session(self._token())
        return Reply(204, headers={"Set-Cookie": session_cookie("", clear=True)})

    def api_me(self, user, _query, _raw_body):
        return Reply(200, {"user": user})


def make_server(host, port, db_path, quiet=False):
    server = ThreadingHTTPServer((host, port), ChatHandler)
    server.daemon_threads = True
    server.store = ChatStore(db_path)
    server.quiet = quiet
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="Team chat server")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", default="chat.db")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.db)
    print(f"team chat on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
