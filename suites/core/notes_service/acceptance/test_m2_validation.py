"""Hidden acceptance tests, milestone m2: validation errors and unsupported methods."""

import pytest


def assert_error(response, status):
    assert response.status == status, response
    assert response.content_type.startswith("application/json"), response.headers
    assert isinstance(response.json, dict) and isinstance(response.json.get("error"), str), response
    assert response.json["error"].strip()


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[1, 2]", b'"just a string"', b"null", b"42"],
    ids=["invalid-json", "empty", "array", "string", "null", "number"],
)
def test_create_needs_a_json_object(service, raw):
    assert_error(service.post("/notes", raw=raw), 400)


@pytest.mark.parametrize(
    "body",
    [{"body": "no title"}, {"title": ""}, {"title": "   "}],
    ids=["missing", "empty", "blank"],
)
def test_create_needs_a_title(service, body):
    assert_error(service.post("/notes", body), 400)
    assert service.get("/notes").json["notes"] == []


def test_title_length_limit_is_200(service):
    assert_error(service.post("/notes", {"title": "x" * 201}), 400)
    response = service.post("/notes", {"title": "y" * 200})
    assert response.status == 201, response


@pytest.mark.parametrize(
    "body",
    [{"title": 7}, {"title": ["a"]}, {"title": None}, {"title": "ok", "body": 3}, {"title": "ok", "body": {"a": 1}}],
    ids=["title-number", "title-list", "title-null", "body-number", "body-object"],
)
def test_title_and_body_must_be_strings(service, body):
    assert_error(service.post("/notes", body), 400)


@pytest.mark.parametrize(
    "body",
    [{"title": "ok", "color": "red"}, {"title": "ok", "id": 5}],
    ids=["color", "id"],
)
def test_unknown_fields_are_rejected(service, body):
    assert_error(service.post("/notes", body), 400)
    assert service.get("/notes").json["notes"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"title": ""}, {"title": 5}, {"body": None}, {"title": "z" * 201}, {"created_at": "2020-01-01T00:00:00Z"}],
    ids=["empty", "blank-title", "number-title", "null-body", "long-title", "created_at"],
)
def test_bad_patches_are_400_and_change_nothing(service, body):
    note = service.create(title="Unchanged", body="same")
    assert_error(service.patch(f"/notes/{note['id']}", body), 400)
    assert service.get(f"/notes/{note['id']}").json == note


def test_patch_with_invalid_json_is_400(service):
    note = service.create(title="Unchanged")
    assert_error(service.patch(f"/notes/{note['id']}", raw=b"{title"), 400)


@pytest.mark.parametrize(
    "method, path",
    [("PUT", "/notes/1"), ("POST", "/notes/1"), ("DELETE", "/notes"), ("PUT", "/notes")],
    ids=["put-note", "post-note", "delete-collection", "put-collection"],
)
def test_unsupported_methods_are_405(service, method, path):
    service.create(title="exists")
    assert_error(service.request(method, path, {"title": "x"}), 405)
    assert [n["title"] for n in service.get("/notes").json["notes"]] == ["exists"]
