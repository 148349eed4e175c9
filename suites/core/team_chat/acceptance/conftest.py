"""Fixtures of the hidden acceptance tests: the chat server under test, started as a real process,
API clients with their own sessions, and a headless Chromium driven over the DevTools protocol.

Each test gets its own server (a free port, a database in the test's temporary directory) and, if
it uses the page, its own browser. If either can't be started, the test fails: it is never skipped.
"""

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import browser as cdp

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "chat_server.py"
START_TIMEOUT_S = 15
PASSWORD = "s3cret-pass"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def __repr__(self):
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Api:
    """An API client; with a token it sends `Authorization: Bearer <token>`."""

    def __init__(self, port, token=None, username=None):
        self.port = port
        self.token = token
        self.username = username

    def request(self, method, path, body=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode("utf-8") if body is not None else None)
        sent = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            sent["Authorization"] = "Bearer " + self.token
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            payload = response.read()
            headers = {}
            for name, value in response.getheaders():
                key = name.lower()
                headers[key] = headers[key] + "\n" + value if key in headers else value
            return Response(response.status, headers, payload)
        finally:
            conn.close()

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body=body, **kwargs)

    # Shortcuts that expect success.

    def ok(self, method, path, body=None, status=(200, 201)):
        response = self.request(method, path, body=body)
        assert response.status in ((status,) if isinstance(status, int) else status), (method, path, response)
        return response.json

    def channel(self, name, topic=None):
        body = {"name": name} if topic is None else {"name": name, "topic": topic}
        return self.ok("POST", "/api/channels", body, 201)["channel"]

    def join(self, name):
        return self.ok("POST", f"/api/channels/{name}/join", status=200)["channel"]

    def say(self, channel, text):
        return self.ok("POST", f"/api/channels/{channel}/messages", {"text": text}, 201)["message"]

    def reply(self, message_id, text):
        return self.ok("POST", f"/api/messages/{message_id}/replies", {"text": text}, 201)["message"]

    def messages(self, channel):
        return self.ok("GET", f"/api/channels/{channel}/messages", status=200)["messages"]

    def channels(self):
        return {c["name"]: c for c in self.ok("GET", "/api/channels", status=200)["channels"]}


class Service:
    def __init__(self, db_path, log_path):
        self.db_path = db_path
        self.log_path = log_path
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def start(self):
        if not SERVER.is_file():
            pytest.fail("chat_server.py is missing at the repository root")
        self.port = free_port()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(SERVER), "--port", str(self.port), "--db", str(self.db_path)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"the server did not accept connections within {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def log_tail(self, limit=3000):
        try:
            return Path(self.log_path).read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def anonymous(self):
        return Api(self.port)

    def signup(self, username, password=PASSWORD):
        response = self.anonymous().post("/api/signup", {"username": username, "password": password})
        assert response.status == 201, response
        token = response.json.get("token")
        assert token, f"the sign-up response carries no token: {response}"
        return Api(self.port, token, username)


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path / "chat.db", tmp_path / "server.log")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


class NoBrowser:
    """Stands in for a browser that could not be started: the test using it fails (not errors
    in set-up, and is never skipped) with the reason."""

    def __init__(self, reason):
        self.reason = reason

    def new_page(self, *args, **kwargs):
        pytest.fail(self.reason)


@pytest.fixture
def chromium(tmp_path):
    program = cdp.find_chromium()
    if program is None:
        yield NoBrowser("no browser to test the page with: none of " + ", ".join(cdp.PROGRAMS) + " is on PATH")
        return
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    try:
        instance = cdp.Browser(program, profile)
    except (OSError, cdp.BrowserError) as exc:
        yield NoBrowser(f"{program} did not start: {exc}")
        return
    try:
        yield instance
    finally:
        instance.close()


def open_app(chromium, service):
    """A page showing the app, in a browser context of its own (its own cookies)."""
    return chromium.new_page(service.url, isolated=True)


def sign_in(page, username, password=PASSWORD, button="Sign in"):
    page.fill("Username", username)
    page.fill("Password", password)
    page.click(button)
    page.wait_for_text(f"Signed in as {username}")


def open_channel(page, name):
    page.click(f"#{name}")
