"""Fixtures of the hidden acceptance tests: the service under test, started as a real process.

Each test gets its own server (a free port, a database in the test's temporary directory). If the
server can't be started, the test fails in setup, so every test still reports on its own.
"""

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "notes_server.py"
START_TIMEOUT_S = 15


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

    @property
    def content_type(self):
        return self.headers.get("content-type", "")

    def __repr__(self):
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Service:
    def __init__(self, db_path, log_path):
        self.db_path = db_path
        self.log_path = log_path
        self.proc = None
        self.port = None

    def start(self):
        if not SERVER.is_file():
            pytest.fail("notes_server.py is missing at the repository root")
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

    def request(self, method, path, body=None, raw=None):
        """Send one request. `body` is encoded as JSON; `raw` (bytes) is sent as it is."""
        data = raw if raw is not None else (json.dumps(body).encode("utf-8") if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body=body, raw=raw)

    def patch(self, path, body=None, raw=None):
        return self.request("PATCH", path, body=body, raw=raw)

    def delete(self, path):
        return self.request("DELETE", path)

    def create(self, **fields):
        response = self.post("/notes", fields)
        assert response.status == 201, response
        return response.json


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path / "notes.db", tmp_path / "server.log")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()
