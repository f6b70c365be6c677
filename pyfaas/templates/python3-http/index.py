"""Serve function.handler over HTTP on port 5000 (the of-watchdog ``mode=http`` upstream).

pyfaas normally imports the handler straight into its watchdog (``mode=inproc``);
this entry point exists so the template also runs as a plain HTTP upstream.
"""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from function import handler


class Event:
    def __init__(self, request, body):
        url = urlsplit(request.path)
        self.body = body
        self.headers = dict(request.headers.items())
        self.method = request.command
        self.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.path = url.path


class Context:
    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", socket.gethostname())


def format_response(resp):
    if resp is None:
        return 200, {}, b""
    if not isinstance(resp, dict) or "statusCode" not in resp:
        return 200, {}, _encode(resp)
    headers = dict(resp.get("headers") or {})
    body = resp.get("body")
    if isinstance(body, (dict, list)):
        headers.setdefault("Content-Type", "application/json")
    return int(resp["statusCode"]), headers, _encode(body)


def _encode(body):
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    return str(body).encode()


class Handler(BaseHTTPRequestHandler):
    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = format_response(handler.handle(Event(self, body), Context()))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 5000), Handler).serve_forever()
