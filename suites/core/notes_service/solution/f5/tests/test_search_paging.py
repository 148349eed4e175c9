import pytest

from notes_store import NoteStore


def titles(payload):
    return [note["title"] for note in payload["notes"]]


@pytest.fixture
def many(client):
    for n in range(1, 26):
        client.post("/notes", {"title": f"note {n:02d}", "body": "even" if n % 2 == 0 else "odd"})
    return client


def test_store_search_pages_and_counts(tmp_path):
    store = NoteStore(tmp_path / "notes.db")
    for title, body in [("Milk run", ""), ("Bread", "buy MILK too"), ("Other", "nothing")]:
        store.create(title, body)
    notes, total = store.search(q="milk")
    assert [n["title"] for n in notes] == ["Milk run", "Bread"] and total == 2
    notes, total = store.search(limit=1, offset=1)
    assert [n["title"] for n in notes] == ["Bread"] and total == 3


def test_default_page_is_20_oldest_first(many):
    status, payload, _ = many.get("/notes")
    assert status == 200
    assert titles(payload) == [f"note {n:02d}" for n in range(1, 21)]
    assert (payload["total"], payload["limit"], payload["offset"]) == (25, 20, 0)


def test_limit_and_offset(many):
    _, payload, _ = many.get("/notes?limit=5&offset=20")
    assert titles(payload) == [f"note {n:02d}" for n in range(21, 26)]
    assert (payload["total"], payload["limit"], payload["offset"]) == (25, 5, 20)


def test_offset_past_the_end_is_an_empty_page(many):
    _, payload, _ = many.get("/notes?offset=100")
    assert payload["notes"] == [] and payload["total"] == 25


def test_search_matches_title_or_body_case_insensitively(client):
    client.post("/notes", {"title": "Groceries", "body": "MILK and eggs"})
    client.post("/notes", {"title": "Milkshake recipe"})
    client.post("/notes", {"title": "Taxes", "body": "receipts"})
    _, payload, _ = client.get("/notes?q=milk")
    assert titles(payload) == ["Groceries", "Milkshake recipe"]
    assert payload["total"] == 2


def test_search_with_paging_counts_all_matches(many):
    _, payload, _ = many.get("/notes?q=EVEN&limit=3&offset=3")
    assert titles(payload) == ["note 08", "note 10", "note 12"]
    assert payload["total"] == 12


def test_empty_q_matches_everything(many):
    assert many.get("/notes?q=")[1]["total"] == 25


def test_url_encoded_query(client):
    client.post("/notes", {"title": "two words here"})
    client.post("/notes", {"title": "other"})
    assert titles(client.get("/notes?q=two%20words")[1]) == ["two words here"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "offset=-1", "offset=x", "limit=2.5"])
def test_bad_paging_parameters_are_400(client, query):
    status, payload, _ = client.get(f"/notes?{query}")
    assert status == 400
    assert "error" in payload


def test_limit_100_is_allowed(many):
    _, payload, _ = many.get("/notes?limit=100")
    assert len(payload["notes"]) == 25 and payload["limit"] == 100
