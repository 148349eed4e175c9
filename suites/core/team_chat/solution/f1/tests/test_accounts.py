"""Accounts and sessions: sign-up, sign-in, sign-out, who am I."""

import sqlite3

import pytest

from chat_store import ChatStore


def test_signup_creates_a_user_and_a_session(client):
    status, body, headers = client.post("/api/signup", {"username": "Alice", "password": "s3cret-pass"})
    assert status == 201, body
    assert body["user"]["username"] == "alice"
    assert isinstance(body["user"]["id"], int)
    assert body["token"]
    cookie = headers["set-cookie"]
    assert cookie.startswith("session=" + body["token"])
    assert "HttpOnly" in cookie


def test_bearer_token_and_cookie_both_authenticate(client):
    _, body, _ = client.post("/api/signup", {"username": "alice", "password": "s3cret-pass"})
    token = body["token"]
    assert client.get("/api/me", headers={"Authorization": "Bearer " + token})[1]["user"]["username"] == "alice"
    status, me, _ = client.get("/api/me", headers={"Cookie": "session=" + token})
    assert status == 200 and me["user"]["username"] == "alice"


def test_me_without_a_session_is_401(client):
    status, body, _ = client.get("/api/me")
    assert status == 401 and body["error"]
    status, _, _ = client.get("/api/me", headers={"Authorization": "Bearer nonsense"})
    assert status == 401


def test_signin_checks_the_password(client):
    client.post("/api/signup", {"username": "bob", "password": "hunter2hunter2"})
    status, body, headers = client.post("/api/signin", {"username": "BOB", "password": "hunter2hunter2"})
    assert status == 200 and body["user"]["username"] == "bob"
    assert "session=" in headers["set-cookie"]
    assert client.post("/api/signin", {"username": "bob", "password": "wrong-password"})[0] == 401
    assert client.post("/api/signin", {"username": "nobody", "password": "hunter2hunter2"})[0] == 401


def test_signout_ends_the_session(client):
    user = client.user("carol")
    status, _, headers = user.post("/api/signout")
    assert status == 204
    assert "Max-Age=0" in headers["set-cookie"]
    assert user.get("/api/me")[0] == 401


def test_taken_username_is_409(client):
    client.user("dave")
    status, body, _ = client.post("/api/signup", {"username": "DAVE", "password": "whatever-pass"})
    assert status == 409 and body["error"]


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ab", "password": "long enough"},
        {"username": "x" * 21, "password": "long enough"},
        {"username": "bad name", "password": "long enough"},
        {"username": "émile", "password": "long enough"},
        {"username": "erin", "password": "short"},
        {"username": "erin", "password": "x" * 129},
        {"username": 5, "password": "long enough"},
        {"username": "erin"},
        {"username": "erin", "password": "long enough", "admin": True},
    ],
)
def test_bad_signups_are_400(client, fields):
    status, body, _ = client.post("/api/signup", fields)
    assert status == 400, body
    assert body["error"]


def test_bad_json_is_400(client):
    assert client.post("/api/signup", raw=b"{nope")[0] == 400
    assert client.post("/api/signup", raw=b"[1]")[0] == 400


def test_unknown_api_path_is_404_and_wrong_method_405(client):
    assert client.get("/api/nothing")[0] == 404
    status, _, headers = client.get("/api/signup")
    assert status == 405 and headers["allow"] == "POST"


def test_passwords_are_salted_hashes(db_path):
    store = ChatStore(db_path)
    store.create_user("frank", "same-password")
    store.create_user("grace", "same-password")
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT password_hash, salt FROM users").fetchall()
    assert all("same-password" not in h for h, _ in rows)
    assert rows[0][0] != rows[1][0]
    assert store.authenticate("frank", "same-password")["username"] == "frank"
    assert store.authenticate("frank", "other-password") is None


def test_sessions_survive_a_new_store(db_path):
    store = ChatStore(db_path)
    user = store.create_user("heidi", "password-1")
    token = store.create_session(user["id"])
    assert ChatStore(db_path).user_for_token(token)["username"] == "heidi"
