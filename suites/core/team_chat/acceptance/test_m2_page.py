"""Hidden acceptance tests, milestone m2: channels in the page."""

from conftest import open_app, open_channel, sign_in


def test_create_a_channel_in_the_page(chromium, service):
    page = open_app(chromium, service)
    alice = service.signup("alice")
    sign_in(page, "alice")
    page.fill("New channel", "design")
    page.click("Create channel")
    page.wait_for_text("#design")
    assert alice.channels()["design"]["member"] is True


def test_the_channel_list_shows_channels_made_elsewhere(chromium, service):
    page = open_app(chromium, service)
    alice = service.signup("alice")
    sign_in(page, "alice")
    alice.channel("announcements")  # through the API while the page is open
    page.wait_for_text("#announcements")


def test_join_a_channel_in_the_page(chromium, service):
    page = open_app(chromium, service)
    alice, bob = service.signup("alice"), service.signup("bob")
    alice.channel("random")
    sign_in(page, "bob")
    open_channel(page, "random")
    page.click("Join")
    for _ in range(50):
        if bob.channels()["random"]["member"]:
            break
        page.evaluate("new Promise((r) => setTimeout(r, 100))")
    assert bob.channels()["random"]["member"] is True
