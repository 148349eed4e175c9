"""The page: static files at / and /static/."""


def test_root_serves_the_page_with_its_form(client):
    status, body, headers = client.raw("/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode("utf-8")
    for text in ('for="username">Username<', 'for="password">Password<', ">Sign up<", ">Sign in<", "/static/app.js"):
        assert text in page


def test_static_files_have_their_types(client):
    status, body, headers = client.raw("/static/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert b"Signed in as " in body
    status, _, headers = client.raw("/static/app.css")
    assert status == 200 and headers["content-type"].startswith("text/css")


def test_missing_and_sneaky_static_paths_are_404(client):
    for path in ["/static/nope.js", "/static/../chat_server.py", "/static/%2e%2e%2fchat_store.py", "/nowhere"]:
        assert client.raw(path)[0] == 404, path


def test_page_keeps_the_api_under_api(client):
    assert client.get("/api/me")[0] == 401
