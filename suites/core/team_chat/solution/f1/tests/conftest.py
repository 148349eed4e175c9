"""Test helpers: an in-process chat server on a free port with a fresh database."""

import http.client
import json
import threading

import pytest


class Client:
    """One API client; `token` (after sign-up or sign-in) is sent as a Bearer token."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token

    def request(self, method, path, body=None, raw=None, headers=None):
        """Send a request; returns (status, parsed JSON or None, headers dict with lower-case names)."""
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
            kind = response.getheader("Content-Type", "")
            parsed = json.loads(payload) if payload and kind.startswith("application/json") else None
            return response.status, parsed, {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body=body, **kwargs)

    def raw(self, path):
        """GET a path; returns (status, body bytes, headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()

    def user(self, username, password="correct horse"):
        """A new client signed up as `username`."""
        status, body, _ = self.post("/api/signup", {"username": username, "password": password})
        assert status == 201, body
        return Client(self.port, body["token"])


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "chat.db")


@pytest.fixture
def server(db_path):
    import chat_server  # imported here so a broken server fails only the tests that use it

    srv = chat_server.make_server("127.0.0.1", 0, db_path, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(server):
    return Client(server.server_address[1])
