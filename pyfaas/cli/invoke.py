"""``pyfaas invoke``: call a function with stdin as the body, synchronously or queued."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterator
from typing import BinaryIO

import click

from pyfaas.client._invoke import function_ref, send, submitted_call_id
from pyfaas.errors import BadRequest

from . import _common as common

_CHUNK = 64 * 1024
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


@click.command(epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@click.option("-a", "--async", "asynchronous", is_flag=True, help="Queue the call")
@click.option("-H", "--header", multiple=True, help="Header 'Name: value' (or Name=value)")
@click.option("--query", multiple=True, help="Query parameter key=value")
@click.option(
    "-m",
    "--method",
    default="POST",
    type=click.Choice(_METHODS, case_sensitive=False),
    help="HTTP method",
)
@click.option("--content-type", default="text/plain", help="Content-Type of the body")
@click.option("--sign", default=None, help="Header to carry an HMAC-SHA256 signature of the body")
@click.option("--key", default=None, help="Key for --sign")
@common.namespace_option
@common.gateway_option
def invoke(
    name: str,
    asynchronous: bool,
    header: tuple[str, ...],
    query: tuple[str, ...],
    method: str,
    content_type: str,
    sign: str | None,
    key: str | None,
    namespace: str | None,
    gateway: str | None,
) -> None:
    """Invoke function NAME with stdin as the request body; print its answer to stdout."""
    headers = dict(common.parse_header(h) for h in header)
    headers.setdefault("Content-Type", content_type)
    params = [common.parse_query(q) for q in query]
    stdin = common.stdin_bytes()
    if stdin.isatty():
        click.echo("Reading from STDIN - hit (Control + D) to stop.", err=True)
    body: bytes | Iterator[bytes] = _chunks(stdin)
    if sign or key:
        if not (sign and key):
            raise BadRequest("--sign and --key must be given together")
        # A signature needs the whole body before the first byte is sent.
        data = stdin.read()
        headers[sign] = "sha256=" + hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
        body = data
    found = common.access(gateway)
    ref = function_ref(name, namespace)
    request = functools.partial(
        send,
        found.url,
        body=body,
        headers=headers,
        query=params,
        auth=found.auth,
        token=found.token,
        verify=found.verify,
    )
    if asynchronous:
        call_id = submitted_call_id(request("POST", f"/async-function/{ref}"), name)
        click.echo("Function submitted asynchronously.", err=True)
        if call_id:
            click.echo(f"Call ID: {call_id}", err=True)
        return
    result = request(method.upper(), f"/function/{ref}")
    if not result.ok:
        text = " ".join(result.body.decode("utf-8", "replace").split())
        raise click.ClickException(
            f"server returned unexpected status code: {result.status} - {text}".rstrip(" -")
        )
    out = common.stdout_bytes()
    out.write(result.body)
    out.flush()
