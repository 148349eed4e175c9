"""Hidden acceptance tests, milestone m3: search and paging."""

import pytest


def titles(response):
    return [n["title"] for n in response.json["notes"]]


@pytest.fixture
def filled(service):
    for n in range(1, 26):
        service.create(title=f"note {n:02d}", body="even" if n % 2 == 0 else "odd")
    return service


def test_default_page_is_the_first_20(filled):
    response = filled.get("/notes")
    assert response.status == 200, response
    assert titles(response) == [f"note {n:02d}" for n in range(1, 21)]
    assert response.json["total"] == 25
    assert response.json["limit"] == 20
    assert response.json["offset"] == 0


def test_limit_and_offset_page_through(filled):
    response = filled.get("/notes?limit=10&offset=10")
    assert titles(response) == [f"note {n:02d}" for n in range(11, 21)]
    assert (response.json["total"], response.json["limit"], response.json["offset"]) == (25, 10, 10)
    last = filled.get("/notes?limit=10&offset=20")
    assert titles(last) == [f"note {n:02d}" for n in range(21, 26)]


def test_offset_past_the_end_gives_an_empty_page(filled):
    response = filled.get("/notes?offset=40")
    assert response.status == 200, response
    assert response.json["notes"] == []
    assert response.json["total"] == 25


def test_limit_100_is_allowed(filled):
    response = filled.get("/notes?limit=100")
    assert response.status == 200, response
    assert len(response.json["notes"]) == 25


def test_search_matches_title_or_body_ignoring_case(service):
    service.create(title="Groceries", body="MILK, eggs")
    service.create(title="Milkshake recipe")
    service.create(title="Taxes", body="receipts")
    response = service.get("/notes?q=milk")
    assert response.status == 200, response
    assert titles(response) == ["Groceries", "Milkshake recipe"]
    assert response.json["total"] == 2
    assert service.get("/notes?q=nothing-like-this").json["notes"] == []


def test_search_total_counts_all_matches_not_just_the_page(filled):
    response = filled.get("/notes?q=EVEN&limit=5&offset=5")
    assert titles(response) == ["note 12", "note 14", "note 16", "note 18", "note 20"]
    assert response.json["total"] == 12


def test_url_encoded_search(service):
    service.create(title="two words together")
    service.create(title="two other words")
    assert titles(service.get("/notes?q=two%20words")) == ["two words together"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-5", "limit=ten", "offset=-1", "offset=abc", "limit=1.5"],
)
def test_bad_limit_or_offset_is_400(service, query):
    response = service.get(f"/notes?{query}")
    assert response.status == 400, response
    assert isinstance(response.json["error"], str)
