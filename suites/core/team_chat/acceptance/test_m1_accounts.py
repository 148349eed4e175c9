"""Hidden acceptance tests, milestone m1: accounts and sessions over the API."""

import pytest

from conftest import PASSWORD


def test_signup_answers_201_with_the_user_a_token_and_a_session_cookie(service):
    response = service.anonymous().post("/api/signup", {"username": "alice", "password": PASSWORD})
    assert response.status == 201, response
    assert response.json["user"]["username"] == "alice"
    assert response.json["token"]
    cookie = response.header("set-cookie")
    assert cookie.startswith("session="), cookie
    assert "httponly" in cookie.lower()


def test_me_knows_the_user_by_bearer_token_or_cookie(service):
    alice = service.signup("alice")
    response = alice.get("/api/me")
    assert response.status == 200, response
    assert response.json["user"]["username"] == "alice"
    by_cookie = service.anonymous().get("/api/me", headers={"Cookie": "session=" + alice.token})
    assert by_cookie.status == 200 and by_cookie.json["user"]["username"] == "alice"


def test_api_needs_a_session(service):
    for headers in [{}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "session=not-a-token"}]:
        response = service.anonymous().get("/api/me", headers=headers)
        assert response.status == 401, (headers, response)
        assert response.json["error"]


def test_signin_with_the_right_password(service):
    service.signup("bob", "hunter2hunter2")
    response = service.anonymous().post("/api/signin", {"username": "bob", "password": "hunter2hunter2"})
    assert response.status == 200, response
    assert response.json["user"]["username"] == "bob"
    assert response.header("set-cookie").startswith("session=")
    again = service.anonymous().get("/api/me", headers={"Authorization": "Bearer " + response.json["token"]})
    assert again.json["user"]["username"] == "bob"


def test_signin_with_a_wrong_password_or_unknown_user_is_401(service):
    service.signup("bob", "hunter2hunter2")
    for fields in [{"username": "bob", "password": "wrong-password"}, {"username": "nobody", "password": "hunter2hunter2"}]:
        response = service.anonymous().post("/api/signin", fields)
        assert response.status == 401, response
        assert response.json["error"]


def test_usernames_ignore_case(service):
    service.signup("Carol")
    assert service.signup("dave").get("/api/me").json["user"]["username"] == "dave"
    response = service.anonymous().post("/api/signin", {"username": "CAROL", "password": PASSWORD})
    assert response.status == 200 and response.json["user"]["username"] == "carol"
    taken = service.anonymous().post("/api/signup", {"username": "carol", "password": PASSWORD})
    assert taken.status == 409, taken


def test_signout_ends_the_session(service):
    alice = service.signup("alice")
    response = alice.post("/api/signout")
    assert response.status in (200, 204), response
    assert alice.get("/api/me").status == 401


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ab", "password": PASSWORD},
        {"username": "a" * 21, "password": PASSWORD},
        {"username": "two words", "password": PASSWORD},
        {"username": "dash-name", "password": PASSWORD},
        {"username": "erin", "password": "short"},
        {"username": "erin"},
        {"password": PASSWORD},
        {"username": 42, "password": PASSWORD},
    ],
    ids=["too-short", "too-long", "space", "dash", "short-password", "no-password", "no-username", "number"],
)
def test_bad_signups_are_400(service, fields):
    response = service.anonymous().post("/api/signup", fields)
    assert response.status == 400, response
    assert response.json["error"]


def test_a_body_that_is_not_a_json_object_is_400(service):
    for raw in [b"{oops", b"[1, 2]", b'"alice"']:
        response = service.anonymous().post("/api/signup", raw=raw)
        assert response.status == 400, (raw, response)


def test_passwords_are_not_stored_in_clear(service):
    service.signup("frank", "PlainTextWouldBeBad")
    service.stop()
    assert b"PlainTextWouldBeBad" not in service.db_path.read_bytes()


def test_accounts_and_sessions_survive_a_restart(service):
    alice = service.signup("alice")
    service.restart()
    alice.port = service.port
    assert alice.get("/api/me").json["user"]["username"] == "alice"
    response = service.anonymous().post("/api/signin", {"username": "alice", "password": PASSWORD})
    assert response.status == 200, response


def test_unknown_api_paths_are_404_json(service):
    response = service.signup("alice").get("/api/nowhere")
    assert response.status == 404, response
    assert response.json["error"]
