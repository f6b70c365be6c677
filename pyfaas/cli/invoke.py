"""``pyfaas invoke``: call a function with stdin as the body, synchronously or queued.

``--async`` says on stderr what faas-cli says ("Function submitted
asynchronously.") and the call id, and on stdout the answer's status and
``X-Call-Id`` line, so a script can take the id from either. ``--wait``
then polls the call until it is final and prints its result as a synchronous
invoke prints the answer.

Invocations carry no saved login: the function gets the request's headers,
and a request bin would show the admin password to anyone who reads it. An
explicit ``-k/--token`` is sent, and ``--wait`` reads the result with the login.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterator
from typing import BinaryIO

import click

from pyfaas.client._invoke import InvokeResult, function_ref, send, submitted_call_id
from pyfaas.errors import BadRequest, PyfaasError

from . import _common as common

_CHUNK = 64 * 1024
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


@click.command(epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@click.option("-a", "--async", "asynchronous", is_flag=True, help="Queue the call")
@click.option("--wait", is_flag=True, help="With --async: wait for the call's result and print it")
@click.option(
    "--timeout",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds --wait waits at most (default 60)",
)
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
    wait: bool,
    timeout: float | None,
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
    if timeout is not None and not wait:
        raise BadRequest("--timeout goes with --wait")
    asynchronous = asynchronous or wait
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
    # No admin login: the function would receive it with the request's headers.
    found = common.access(gateway, login=False)
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
        submitted = request("POST", f"/async-function/{ref}")
        call_id = submitted_call_id(submitted, name)
        click.echo("Function submitted asynchronously.", err=True)
        if call_id:
            click.echo(f"Call ID: {call_id}", err=True)
        if wait:
            _print_answer(_wait_for(call_id, gateway, 60.0 if timeout is None else timeout))
            return
        click.echo(f"{submitted.status} {submitted.reason or 'Accepted'}")
        if call_id:
            click.echo(f"X-Call-Id: {call_id}")
        return
    _print_answer(request(method.upper(), f"/function/{ref}"))


def _print_answer(result: InvokeResult) -> None:
    """The body on stdout as it came; a non-2xx answer is one error line, exit 1."""
    if not result.ok:
        text = " ".join(result.body.decode("utf-8", "replace").split())
        raise click.ClickException(
            f"server returned unexpected status code: {result.status} - {text}".rstrip(" -")
        )
    out = common.stdout_bytes()
    out.write(result.body)
    out.flush()


def _wait_for(call_id: str, gateway: str | None, timeout: float) -> InvokeResult:
    """The stored result of ``call_id`` once the call is final, as an invoke's answer."""
    if not call_id:
        raise PyfaasError("the gateway sent no X-Call-Id: there is no call to wait for")
    # httpx and pydantic only now: a plain --async must start fast.
    with common.open_client(gateway) as client:
        outcome = client.wait_result(call_id, timeout=timeout)
    found = outcome.result
    if found is None:
        call = outcome.call
        why = call.reason or call.error
        raise PyfaasError(
            f"call {call_id} ended {call.state.value} without a result"
            + (f": {why}" if why else "")
        )
    headers = {k.lower(): v for k, v in found.headers}
    return InvokeResult(status=found.status, headers=headers, body=found.body)
