"""The page's channel list: the controls exist and the script uses the channel API."""


def page_and_script(client):
    return client.raw("/")[1].decode("utf-8"), client.raw("/static/app.js")[1].decode("utf-8")


def test_page_has_the_channel_controls(client):
    page, _ = page_and_script(client)
    for text in ('aria-label="Channels"', 'for="new-channel">New channel<', ">Create channel<", ">Join<"):
        assert text in page


def test_script_lists_creates_and_joins_channels(client):
    _, script = page_and_script(client)
    for text in ('"/api/channels"', '"/join"', "setInterval", '"#" + channel.name'):
        assert text in script
