"""Hidden acceptance tests, milestone m5: search and unread counts over the API."""

import pytest


@pytest.fixture
def team(service):
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    alice.channel("secret")
    bob.join("general")
    return alice, bob


def texts(response):
    assert response.status == 200, response
    return [m["text"] for m in response.json["messages"]]


def test_search_ignores_case_and_finds_substrings_newest_first(team):
    alice, bob = team
    parent = alice.say("general", "Deploy on Friday?")
    bob.reply(parent["id"], "never redeploy on fridays")
    alice.say("general", "lunch")
    assert texts(bob.get("/api/search?q=DEPLOY")) == ["never redeploy on fridays", "Deploy on Friday?"]
    assert texts(bob.get("/api/search?q=on%20fri")) == ["never redeploy on fridays", "Deploy on Friday?"]
    assert texts(bob.get("/api/search?q=nothing")) == []


def test_search_covers_only_channels_i_am_in(team):
    alice, bob = team
    alice.say("secret", "the launch date")
    alice.say("general", "launch party")
    assert texts(bob.get("/api/search?q=launch")) == ["launch party"]
    assert texts(alice.get("/api/search?q=launch")) == ["launch party", "the launch date"]


def test_search_in_one_channel(team):
    alice, _ = team
    alice.say("secret", "plan A")
    alice.say("general", "plan B")
    assert texts(alice.get("/api/search?q=plan&channel=secret")) == ["plan A"]


def test_search_results_say_where_they_are(team):
    alice, _ = team
    alice.say("secret", "needle")
    found = alice.get("/api/search?q=needle").json["messages"][0]
    assert (found["channel"], found["author"]) == ("secret", "alice")


def test_a_blank_search_is_400(team):
    alice, _ = team
    for path in ["/api/search", "/api/search?q=", "/api/search?q=%20"]:
        assert alice.get(path).status == 400, path


def test_unread_counts_messages_of_others_until_i_read_the_channel(team):
    alice, bob = team
    assert bob.channels()["general"]["unread"] == 0
    first = alice.say("general", "one")
    alice.say("general", "two")
    bob.say("general", "my own")
    alice.reply(first["id"], "a reply is not counted")
    assert bob.channels()["general"]["unread"] == 2
    assert alice.channels()["general"]["unread"] == 1
    bob.messages("general")
    assert bob.channels()["general"]["unread"] == 0
    alice.say("general", "three")
    assert bob.channels()["general"]["unread"] == 1


def test_unread_is_zero_for_channels_i_am_not_in_and_after_joining(team):
    alice, bob = team
    alice.say("secret", "old news")
    assert bob.channels()["secret"]["unread"] == 0
    bob.join("secret")
    assert bob.channels()["secret"]["unread"] == 0
    alice.say("secret", "fresh news")
    assert bob.channels()["secret"]["unread"] == 1
