"""Hidden acceptance tests, milestone m5: search and unread badges in the page."""

import re

from conftest import open_app, open_channel, sign_in


def test_search_in_the_page(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    bob.join("general")
    alice.say("general", "The quarterly REPORT is due")
    alice.say("general", "lunch?")
    sign_in(page, "bob")
    page.fill("Search", "report")
    page.click("Search")
    page.wait_for_text("The quarterly REPORT is due")
    assert "lunch?" not in page.text()


def test_unread_badge_appears_and_clears(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    alice.channel("random")
    bob.join("general")
    bob.join("random")
    sign_in(page, "bob")
    open_channel(page, "random")
    page.wait_for_text("#general")
    alice.say("general", "one")
    alice.say("general", "two")
    page.wait_near("#general", lambda t: re.search(r"\b2\b", t), "no unread count 2 next to #general")
    open_channel(page, "general")
    page.wait_for_text("two")
    page.wait_near("#general", lambda t: not re.search(r"\b2\b", t), "the unread count of #general did not clear")
    assert bob.channels()["general"]["unread"] == 0
