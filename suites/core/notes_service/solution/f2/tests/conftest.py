"""Test helpers: an in-process notes server on a free port with a fresh database."""

import http.client
import json
import threading

import pytest


class Client:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, raw=None):
        """Send a request; returns (status, parsed JSON or None, headers dict)."""
        data = raw if raw is not None else (json.dumps(body).encode("utf-8") if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            return response.status, (json.loads(payload) if payload else None), dict(response.getheaders())
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body=body, raw=raw)


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "notes.db")


@pytest.fixture
def client(db_path):
    import notes_server  # imported here so the store's own tests don't depend on the server

    server = notes_server.make_server("127.0.0.1", 0, db_path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Client(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
