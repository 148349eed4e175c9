"""Hidden acceptance tests, milestone m3: tags."""

import pytest


def titles(response):
    return [n["title"] for n in response.json["notes"]]


def test_notes_have_an_empty_tag_list_by_default(service):
    note = service.create(title="plain")
    assert note["tags"] == []
    assert service.get(f"/notes/{note['id']}").json["tags"] == []


def test_tags_are_trimmed_lowercased_deduplicated_and_sorted(service):
    note = service.create(title="Trip", tags=["Travel", " travel ", "URGENT", "admin"])
    assert note["tags"] == ["admin", "travel", "urgent"]
    assert service.get(f"/notes/{note['id']}").json["tags"] == ["admin", "travel", "urgent"]


def test_patch_replaces_the_tags(service):
    note = service.create(title="T", tags=["old"])
    response = service.patch(f"/notes/{note['id']}", {"tags": ["New", "other"]})
    assert response.status == 200, response
    assert response.json["tags"] == ["new", "other"]
    response = service.patch(f"/notes/{note['id']}", {"title": "T2"})
    assert response.json["tags"] == ["new", "other"]


@pytest.mark.parametrize(
    "tags",
    ["work", [""], ["ok", "  "], [3], [None], {"work": True}],
    ids=["string", "empty-tag", "blank-tag", "number", "null", "object"],
)
def test_bad_tags_are_400(service, tags):
    response = service.post("/notes", {"title": "x", "tags": tags})
    assert response.status == 400, response
    assert "error" in response.json
    note = service.create(title="y", tags=["keep"])
    response = service.patch(f"/notes/{note['id']}", {"tags": tags})
    assert response.status == 400, response
    assert service.get(f"/notes/{note['id']}").json["tags"] == ["keep"]


def test_filter_by_tag_ignores_case(service):
    service.create(title="a", tags=["work"])
    service.create(title="b", tags=["home"])
    service.create(title="c", tags=["Work", "urgent"])
    response = service.get("/notes?tag=WORK")
    assert response.status == 200, response
    assert titles(response) == ["a", "c"]
    assert response.json["total"] == 2
    assert service.get("/notes?tag=none").json["notes"] == []


def test_tag_filter_combines_with_search_and_paging(service):
    for n in range(6):
        service.create(title=f"report {n}" if n % 2 else f"memo {n}", tags=["work"])
    service.create(title="report from home", tags=["home"])
    response = service.get("/notes?tag=work&q=REPORT&limit=2")
    assert titles(response) == ["report 1", "report 3"]
    assert response.json["total"] == 3
    response = service.get("/notes?tag=work&q=report&limit=2&offset=2")
    assert titles(response) == ["report 5"]


def test_tags_survive_a_restart(service):
    note = service.create(title="Tagged", tags=["Keep"])
    service.restart()
    assert service.get(f"/notes/{note['id']}").json["tags"] == ["keep"]
