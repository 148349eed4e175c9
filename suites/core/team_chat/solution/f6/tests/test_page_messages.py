"""The page's messages and threads: the controls exist and the script polls the API."""


def test_page_has_the_message_and_thread_controls(client):
    page = client.raw("/")[1].decode("utf-8")
    for text in ('aria-label="Messages"', 'for="message">Message<', ">Send<", 'aria-label="Thread"',
                 'for="reply">Reply<', ">Send reply<"):
        assert text in page


def test_script_posts_polls_and_opens_threads(client):
    script = client.raw("/static/app.js")[1].decode("utf-8")
    for text in ('"/messages"', '"/replies"', "POLL_MS = 1000", '"1 reply"', '" replies"'):
        assert text in script
