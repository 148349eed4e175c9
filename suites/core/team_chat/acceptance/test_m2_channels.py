"""Hidden acceptance tests, milestone m2: channels over the API."""

import pytest


def test_create_a_channel(service):
    alice = service.signup("alice")
    response = alice.post("/api/channels", {"name": "general"})
    assert response.status == 201, response
    channel = response.json["channel"]
    assert channel["name"] == "general"
    assert channel["member"] is True


def test_names_are_stored_lower_case_and_unique(service):
    alice = service.signup("alice")
    assert alice.channel("Design")["name"] == "design"
    response = alice.post("/api/channels", {"name": "DESIGN"})
    assert response.status == 409, response
    assert response.json["error"]


def test_list_shows_every_channel_sorted_by_name_with_membership(service):
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("random")
    bob.channel("design")
    alice.channel("general")
    response = alice.get("/api/channels")
    assert response.status == 200, response
    listed = [(c["name"], c["member"]) for c in response.json["channels"]]
    assert listed == [("design", False), ("general", True), ("random", True)]


def test_join_a_channel(service):
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    response = bob.post("/api/channels/general/join")
    assert response.status == 200, response
    assert response.json["channel"]["member"] is True
    assert bob.post("/api/channels/general/join").status == 200  # joining twice is fine
    assert bob.channels()["general"]["member"] is True


def test_joining_an_unknown_channel_is_404(service):
    response = service.signup("alice").post("/api/channels/nowhere/join")
    assert response.status == 404, response


@pytest.mark.parametrize(
    "name", ["", "   ", "two words", "#general", "x" * 33, "café", 7],
    ids=["empty", "blank", "space", "hash", "too-long", "accent", "number"],
)
def test_bad_channel_names_are_400(service, name):
    alice = service.signup("alice")
    response = alice.post("/api/channels", {"name": name})
    assert response.status == 400, response
    assert response.json["error"]
    assert alice.channels() == {}


def test_a_topic_can_be_given(service):
    alice = service.signup("alice")
    assert alice.channel("general", topic="Company-wide news")["topic"] == "Company-wide news"
    assert alice.channels()["general"]["topic"] == "Company-wide news"


def test_channels_need_a_session(service):
    anonymous = service.anonymous()
    assert anonymous.get("/api/channels").status == 401
    assert anonymous.post("/api/channels", {"name": "general"}).status == 401


def test_channels_survive_a_restart(service):
    alice = service.signup("alice")
    alice.channel("general")
    service.restart()
    alice.port = service.port
    assert list(alice.channels()) == ["general"]
