"""Render the request body as ASCII art in figlet's standard font."""

import pyfiglet


def handle(event, context):
    body = event.body
    text = (
        body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body or "")
    )
    return {
        "statusCode": 200,
        "body": pyfiglet.figlet_format(text, font="standard"),
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
    }
