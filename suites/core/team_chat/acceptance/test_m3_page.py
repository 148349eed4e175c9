"""Hidden acceptance tests, milestone m3: messages and threads in the page, seen by two people."""

from conftest import open_app, open_channel, sign_in


def test_post_a_message_in_the_page(chromium, service):
    page = open_app(chromium, service)
    alice = service.signup("alice")
    alice.channel("general")
    sign_in(page, "alice")
    open_channel(page, "general")
    page.fill("Message", "Hello from the page")
    page.click("Send")
    page.wait_for_text("Hello from the page")
    assert [m["text"] for m in alice.messages("general")] == ["Hello from the page"]


def test_a_second_user_sees_a_new_message_without_reloading(chromium, service):
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    bob.join("general")
    alice_page = chromium.new_page(service.url, isolated=True)
    bob_page = chromium.new_page(service.url, isolated=True)
    sign_in(alice_page, "alice")
    sign_in(bob_page, "bob")
    open_channel(bob_page, "general")
    open_channel(alice_page, "general")
    alice_page.fill("Message", "Standup in 5 minutes")
    alice_page.click("Send")
    alice_page.wait_for_text("Standup in 5 minutes")
    bob_page.wait_for_text("Standup in 5 minutes", timeout=8)
    bob_page.wait_for_text("alice")


def test_reply_in_a_thread(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("general")
    bob.join("general")
    parent = alice.say("general", "Who reviews my change?")
    sign_in(page, "bob")
    open_channel(page, "general")
    page.wait_for_text("Who reviews my change?")
    page.click("Reply")
    page.fill("Reply", "I will")
    page.click("Send reply")
    page.wait_for_text("I will")
    page.wait_for_text("1 reply")
    replies = alice.get(f"/api/messages/{parent['id']}/replies").json["replies"]
    assert [(r["author"], r["text"]) for r in replies] == [("bob", "I will")]
