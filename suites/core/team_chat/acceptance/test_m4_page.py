"""Hidden acceptance tests, milestone m4: reactions and mentions in the page."""

from conftest import open_app, open_channel, sign_in


def test_react_to_a_message_in_the_page(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    bob.join("general")
    message = alice.say("general", "New release is out")
    sign_in(page, "bob")
    open_channel(page, "general")
    page.wait_for_text("New release is out")
    page.click("👍")
    page.wait_for_text("👍 1")
    reactions = alice.get(f"/api/messages/{message['id']}").json["message"]["reactions"]
    assert [(r["emoji"], r["users"]) for r in reactions] == [("👍", ["bob"])]


def test_reactions_made_elsewhere_show_up(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    bob.join("general")
    message = alice.say("general", "Party on Friday")
    sign_in(page, "alice")
    open_channel(page, "general")
    page.wait_for_text("Party on Friday")
    bob.post(f"/api/messages/{message['id']}/reactions", {"emoji": "🎉"})
    page.wait_for_text("🎉 1")


def test_see_my_mentions_in_the_page(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    bob.join("general")
    alice.say("general", "@bob please review the budget")
    alice.say("general", "nothing for bob here")
    sign_in(page, "bob")
    page.click("Mentions")
    page.wait_for_text("@bob please review the budget")
