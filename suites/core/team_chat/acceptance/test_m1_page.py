"""Hidden acceptance tests, milestone m1: signing up, in and out in the page."""

import time

from conftest import PASSWORD, open_app, sign_in


def test_the_page_is_served_at_the_root(service):
    response = service.anonymous().get("/")
    assert response.status == 200, response
    assert response.header("content-type").startswith("text/html")


def test_sign_up_in_the_page_shows_who_is_signed_in(chromium, service):
    page = open_app(chromium, service)
    page.fill("Username", "alice")
    page.fill("Password", PASSWORD)
    page.click("Sign up")
    page.wait_for_text("Signed in as alice")


def test_the_session_cookie_is_httponly_and_survives_a_reload(chromium, service):
    page = open_app(chromium, service)
    sign_in(page, "alice", button="Sign up")
    cookies = [c for c in page.cookies() if c["name"] == "session"]
    assert cookies and cookies[0]["httpOnly"], page.cookies()
    page.reload()
    page.wait_for_text("Signed in as alice")


def test_sign_out_then_sign_in_again(chromium, service):
    page = open_app(chromium, service)
    service.signup("bob")
    sign_in(page, "bob")
    page.click("Sign out")
    page.wait_for_no_text("Signed in as bob")
    page.reload()
    assert "Signed in as bob" not in page.text()
    sign_in(page, "bob")  # the sign-in form is back, also after a reload


def test_a_wrong_password_is_refused_in_the_page(chromium, service):
    page = open_app(chromium, service)
    service.signup("bob")
    page.fill("Username", "bob")
    page.fill("Password", "not-the-password")
    page.click("Sign in")
    time.sleep(1.5)
    assert "Signed in as" not in page.text()
    sign_in(page, "bob")
