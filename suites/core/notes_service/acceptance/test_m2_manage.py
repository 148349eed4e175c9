"""Hidden acceptance tests, milestone m2: listing, updating and deleting notes."""

import time
from datetime import datetime


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_list_is_empty_at_first(service):
    response = service.get("/notes")
    assert response.status == 200, response
    assert response.content_type.startswith("application/json")
    assert response.json["notes"] == []


def test_list_returns_all_notes_oldest_first(service):
    created = [service.create(title=title) for title in ["first", "second", "third"]]
    response = service.get("/notes")
    assert response.status == 200, response
    assert [n["id"] for n in response.json["notes"]] == [n["id"] for n in created]
    assert response.json["notes"][1] == created[1]


def test_patch_changes_only_the_given_field(service):
    note = service.create(title="Old title", body="keep this")
    response = service.patch(f"/notes/{note['id']}", {"title": "New title"})
    assert response.status == 200, response
    assert response.json["title"] == "New title"
    assert response.json["body"] == "keep this"
    assert response.json["id"] == note["id"]
    assert response.json["created_at"] == note["created_at"]


def test_patch_body_only_and_it_is_persisted(service):
    note = service.create(title="Title stays", body="old")
    service.patch(f"/notes/{note['id']}", {"body": "new body"})
    fetched = service.get(f"/notes/{note['id']}").json
    assert (fetched["title"], fetched["body"]) == ("Title stays", "new body")


def test_patch_updates_updated_at_but_not_created_at(service):
    note = service.create(title="Clock")
    time.sleep(1.1)
    updated = service.patch(f"/notes/{note['id']}", {"title": "Clock 2"}).json
    assert updated["created_at"] == note["created_at"]
    assert ts(updated["updated_at"]) > ts(note["updated_at"])


def test_patch_title_is_trimmed(service):
    note = service.create(title="x")
    assert service.patch(f"/notes/{note['id']}", {"title": "  trimmed "}).json["title"] == "trimmed"


def test_delete_answers_204_and_removes_the_note(service):
    keep = service.create(title="keep")
    gone = service.create(title="gone")
    response = service.delete(f"/notes/{gone['id']}")
    assert response.status == 204, response
    assert response.raw == b""
    assert service.get(f"/notes/{gone['id']}").status == 404
    assert [n["id"] for n in service.get("/notes").json["notes"]] == [keep["id"]]


def test_patch_and_delete_of_unknown_notes_are_404(service):
    response = service.patch("/notes/4242", {"title": "nobody"})
    assert response.status == 404, response
    assert "error" in response.json
    response = service.delete("/notes/4242")
    assert response.status == 404, response
    assert "error" in response.json


def test_changes_survive_a_restart(service):
    a = service.create(title="a")
    b = service.create(title="b")
    service.patch(f"/notes/{a['id']}", {"body": "edited"})
    service.delete(f"/notes/{b['id']}")
    service.restart()
    notes = service.get("/notes").json["notes"]
    assert [(n["id"], n["body"]) for n in notes] == [(a["id"], "edited")]
