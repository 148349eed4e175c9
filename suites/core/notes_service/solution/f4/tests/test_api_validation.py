import pytest


def error_of(result):
    status, payload, headers = result
    assert headers["Content-Type"] == "application/json"
    assert isinstance(payload["error"], str) and payload["error"]
    return status


@pytest.mark.parametrize(
    "raw",
    [b"", b"{not json", b"[1, 2]", b'"a string"', b"null", b"\xff\xfe"],
    ids=["empty", "broken", "array", "string", "null", "not-utf8"],
)
def test_create_needs_a_json_object(client, raw):
    assert error_of(client.post("/notes", raw=raw)) == 400


@pytest.mark.parametrize(
    "body",
    [
        {"body": "no title"},
        {"title": ""},
        {"title": "   "},
        {"title": 42},
        {"title": None},
        {"title": "x" * 201},
        {"title": "ok", "body": 5},
        {"title": "ok", "body": None},
        {"title": "ok", "color": "red"},
    ],
    ids=["missing", "empty", "blank", "number", "null", "too-long", "body-number", "body-null", "unknown-field"],
)
def test_create_validation_errors(client, body):
    assert error_of(client.post("/notes", body)) == 400
    assert client.get("/notes")[1]["notes"] == []


def test_title_of_exactly_200_characters_is_fine(client):
    status, note, _ = client.post("/notes", {"title": "y" * 200})
    assert status == 201
    assert len(note["title"]) == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"title": ""}, {"title": 1}, {"body": []}, {"id": 9}, {"title": "z" * 201}],
    ids=["empty", "blank-title", "number-title", "list-body", "id", "too-long"],
)
def test_patch_validation_errors(client, body):
    _, note, _ = client.post("/notes", {"title": "Stay", "body": "same"})
    assert error_of(client.request("PATCH", f"/notes/{note['id']}", body)) == 400
    assert client.get(f"/notes/{note['id']}")[1] == note


def test_patch_with_invalid_json_is_400(client):
    _, note, _ = client.post("/notes", {"title": "Stay"})
    assert error_of(client.request("PATCH", f"/notes/{note['id']}", raw=b"{")) == 400


@pytest.mark.parametrize(
    "method, path",
    [("PUT", "/notes"), ("DELETE", "/notes"), ("PATCH", "/notes"), ("POST", "/notes/1"), ("PUT", "/notes/1")],
)
def test_unsupported_methods_are_405(client, method, path):
    client.post("/notes", {"title": "exists"})
    result = client.request(method, path, {"title": "x"})
    assert error_of(result) == 405
    assert "Allow" in result[2]


def test_unknown_path_is_still_404(client):
    assert error_of(client.request("PUT", "/elsewhere", {})) == 404
