"""Hidden acceptance tests, milestone m1: creating and reading notes."""

from datetime import datetime, timedelta, timezone


def parse_utc(text):
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.utcoffset() == timedelta(0), f"not UTC: {text}"
    return value


def test_post_creates_a_note_with_201(service):
    response = service.post("/notes", {"title": "Groceries", "body": "milk, eggs"})
    assert response.status == 201, response
    note = response.json
    assert isinstance(note["id"], int)
    assert note["title"] == "Groceries"
    assert note["body"] == "milk, eggs"


def test_responses_are_json(service):
    created = service.post("/notes", {"title": "Groceries", "body": "milk"})
    assert created.content_type.startswith("application/json")
    fetched = service.get(f"/notes/{created.json['id']}")
    assert fetched.content_type.startswith("application/json")
    missing = service.get("/notes/12345")
    assert missing.content_type.startswith("application/json")


def test_timestamps_are_utc_iso_8601(service):
    note = service.create(title="When", body="now")
    created = parse_utc(note["created_at"])
    updated = parse_utc(note["updated_at"])
    now = datetime.now(timezone.utc)
    assert abs(now - created) < timedelta(minutes=5)
    assert timedelta(0) <= updated - created < timedelta(seconds=2)


def test_body_is_optional(service):
    note = service.create(title="Only a title")
    assert note["body"] == ""


def test_title_is_trimmed(service):
    assert service.create(title="   Padded title  ")["title"] == "Padded title"


def test_get_returns_the_created_note(service):
    note = service.create(title="Read me", body="some text")
    response = service.get(f"/notes/{note['id']}")
    assert response.status == 200, response
    assert response.json == note


def test_each_note_gets_its_own_id(service):
    first = service.create(title="one")
    second = service.create(title="two")
    third = service.create(title="three")
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert service.get(f"/notes/{second['id']}").json["title"] == "two"


def test_unicode_round_trips(service):
    note = service.create(title="Café ☕", body="naïve — ünïcödé")
    fetched = service.get(f"/notes/{note['id']}").json
    assert (fetched["title"], fetched["body"]) == ("Café ☕", "naïve — ünïcödé")


def test_unknown_note_is_404_with_json_error(service):
    response = service.get("/notes/999")
    assert response.status == 404, response
    assert isinstance(response.json["error"], str) and response.json["error"]


def test_unknown_paths_are_404(service):
    for path in ["/", "/nope", "/notes/abc", "/notes/1/more"]:
        response = service.get(path)
        assert response.status == 404, (path, response)
        assert "error" in response.json, path


def test_notes_survive_a_restart(service):
    note = service.create(title="Persistent", body="still here")
    service.restart()
    response = service.get(f"/notes/{note['id']}")
    assert response.status == 200, response
    assert response.json == note


def test_database_file_is_created_where_asked(service):
    service.create(title="x")
    assert service.db_path.is_file()
