"""What every command shares: options, the gateway and its credentials, flag parsing.

Credentials come from the faas-cli config file entry for the gateway (``pyfaas
login``); failing that, for a gateway on this machine, from the platform's
own ``$PYFAAS_HOME/credentials``, so ``pyfaas up`` works right after ``pyfaas
serve`` without a login. ``-k/--token`` sends a bearer token instead, and
``--tls-no-verify`` accepts a self-signed https gateway, as in faas-cli: both
come with ``gateway_option``, so every command that talks to the gateway has them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from pyfaas import credentials
from pyfaas.client.config import config_path, is_local, lookup_auth, resolve_gateway
from pyfaas.errors import BadRequest, ConfigError, PyfaasError, Unauthorized
from pyfaas.paths import StatePaths, default_home

# rich, httpx, pydantic and the stack parser are imported where they are used:
# `pyfaas invoke` runs once per call in users' loops and must start fast.
if TYPE_CHECKING:
    from rich.console import Console

    from pyfaas.client import GatewayClient
    from pyfaas.stack import Stack, StackFunction

F = TypeVar("F", bound=Callable[..., Any])

CREDENTIALS_HELP = (
    "Credentials come from `pyfaas login`; for a gateway on this machine without a login, "
    "the platform's own $PYFAAS_HOME/credentials are used when readable."
)


class PyfaasGroup(click.Group):
    """A click group with hidden aliases (``ls``, ``rm``) that renders a ``PyfaasError``
    as one ``Error:`` line and exit 1."""

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = dict(aliases or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Unauthorized as exc:
            raise click.ClickException(unauthorized_message(ctx, exc.message)) from exc
        except PyfaasError as exc:
            raise click.ClickException(exc.message) from exc


def unauthorized_message(ctx: click.Context, message: str) -> str:
    """A 401's line, with the credentials that were sent and how to log in there."""
    url, tried = ctx.meta.get(_URL), ctx.meta.get(_TRIED)
    if url is None or tried is None:
        return message
    how = (
        f"log in there with `pyfaas login -g {url} --username USER --password-stdin`"
        " (a pyfaas gateway's password is in its $PYFAAS_HOME/credentials/basic-auth-password)"
    )
    if ctx.meta.get(_TOKEN):
        how += "; pyfaas's own gateway takes no bearer token, only its basic-auth login"
    return f"{url} refused {tried}: {message}; {how}"


def stdin_bytes() -> BinaryIO:
    return sys.stdin.buffer


def stdout_bytes() -> BinaryIO:
    return sys.stdout.buffer


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@contextmanager
def progress(message: str) -> Iterator[Callable[[str], None]]:
    """A long step, shown on stderr; yields a function that reports how it goes.

    On a terminal: a spinner with the step, its seconds so far and its latest
    report. Elsewhere (a log, CI, a pipe), where a spinner shows nothing: the
    step as a line, then each report as a line of its own, so a build that
    takes a minute is never silent.
    """
    console = stderr()
    if not console.is_terminal:
        click.echo(f"{message}...", err=True)
        yield lambda text: click.echo(f"  {text}", err=True)
        return
    started = time.monotonic()
    latest = [""]

    def shown() -> str:
        seconds = time.monotonic() - started
        return f"{message} ({seconds:.0f}s) {latest[0]}".rstrip()

    done = threading.Event()
    with console.status(message) as status:

        def update(text: str) -> None:
            latest[0] = text if len(text) <= 100 else text[:97] + "..."
            status.update(shown())

        def tick() -> None:  # the seconds go on while a step reports nothing
            while not done.wait(1.0):
                status.update(shown())

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield update
        finally:
            done.set()
            ticker.join()


# Where the connection flags wait for ``access``: every command that talks to the
# gateway gets them from ``gateway_option``, without a parameter of its own.
_TLS_NO_VERIFY = "pyfaas.tls_no_verify"
_TOKEN = "pyfaas.token"
# What ``access`` chose: the gateway and, in words, the credentials sent to it.
_URL = "pyfaas.gateway_url"
_TRIED = "pyfaas.credentials_tried"


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        ctx.meta[key] = value
        return value

    return callback


def tls_option(func: F) -> F:
    return click.option(
        "--tls-no-verify",
        is_flag=True,
        expose_value=False,
        callback=_remember(_TLS_NO_VERIFY),
        help="Do not verify the gateway's TLS certificate (self-signed https gateways)",
    )(func)


def gateway_option(func: F) -> F:
    """``-g/--gateway``, ``--tls-no-verify`` and ``-k/--token``, as on faas-cli's remote
    commands; ``access`` and ``open_client`` read the last two."""
    func = click.option(
        "-k",
        "--token",
        default=None,
        expose_value=False,
        callback=_remember(_TOKEN),
        help="Send 'Authorization: Bearer TOKEN' instead of the saved credentials, for"
        " gateways that take tokens (OpenFaaS with an identity provider); pyfaas's own"
        " gateway takes its basic-auth login",
    )(func)
    return gateway_url_option(tls_option(func))


def gateway_url_option(func: F) -> F:
    """``-g/--gateway`` alone, for commands that send no token (``login``, ``logout``)."""
    return click.option(
        "-g",
        "--gateway",
        default=None,
        help="Gateway URL (default: OPENFAAS_URL or 127.0.0.1:8080)",
    )(func)


def namespace_option(func: F) -> F:
    return click.option("-n", "--namespace", default=None, help="Namespace of the function")(func)


def stack_options(func: F) -> F:
    func = click.option("--regex", default=None, help="Select functions by regular expression")(
        func
    )
    func = click.option("--filter", "filter_", default=None, help="Select functions by glob")(func)
    func = click.option(
        "--envsubst/--no-envsubst", default=True, help="Substitute ${VAR} in the stack file"
    )(func)
    return click.option(
        "-f", "--yaml", "yaml_file", default=None, help="Stack file (default stack.yaml, stack.yml)"
    )(func)


def load_stack_file(yaml_file: str | None, *, envsubst: bool = True) -> Stack | None:
    """The ``-f`` stack file, else ``stack.yaml``/``stack.yml`` in the working directory."""
    from pyfaas.stack import find_stack_file, load_stack

    path = Path(yaml_file) if yaml_file else find_stack_file(Path.cwd())
    return None if path is None else load_stack(path, os.environ, envsubst=envsubst)


def require_stack(yaml_file: str | None, *, envsubst: bool = True) -> Stack:
    stack = load_stack_file(yaml_file, envsubst=envsubst)
    if stack is None:
        raise ConfigError("no stack file: give -f FILE or create stack.yaml")
    return stack


def selected(stack: Stack, filter_: str | None, regex: str | None) -> list[StackFunction]:
    from pyfaas.stack import select

    chosen = select(stack, filter_, regex)
    if not chosen:
        raise ConfigError(f"{stack.path}: no functions match the selection")
    return chosen


def gateway_url(flag: str | None, stack: Stack | None = None) -> str:
    return resolve_gateway(flag, stack.gateway if stack else None, os.environ)


def auth_for(gateway: str) -> tuple[str, str] | None:
    return credentials_for(gateway)[0]


def credentials_for(gateway: str) -> tuple[tuple[str, str] | None, str]:
    """The basic-auth pair for ``gateway``, and where it came from, in words."""
    saved = lookup_auth(os.environ, gateway)
    config = config_path(os.environ)
    if saved is not None:
        return saved, f"the login saved for it in {config} (user {saved[0]})"
    nothing = f"no credentials (no `pyfaas login` for it in {config})"
    if not is_local(gateway):
        return None, nothing
    paths = StatePaths(default_home(os.environ))
    try:
        found = credentials.load(paths)
    except OSError:
        return None, f"{nothing[:-1]}, and none readable in {paths.credentials})"
    return (found.user, found.password), (
        f"this machine's platform credentials from {paths.credentials} (user {found.user})"
    )


@dataclass(frozen=True)
class Access:
    """How to reach the gateway: its URL, credentials, bearer token and TLS checking."""

    url: str
    auth: tuple[str, str] | None
    token: str | None
    verify: bool


def tls_verify() -> bool:
    """False when the running command was given ``--tls-no-verify``."""
    ctx = click.get_current_context(silent=True)
    return not (ctx is not None and ctx.meta.get(_TLS_NO_VERIFY))


def access(flag: str | None, stack: Stack | None = None, *, login: bool = True) -> Access:
    """The gateway and how to authenticate, from the flags of the running command.

    A ``--token`` replaces the saved basic-auth credentials, as in faas-cli.
    ``login=False`` leaves the saved credentials out: an invocation reaches the
    function with its headers, and the admin login is the gateway's, never a
    function's (invocations are open; an explicit ``--token`` is still sent).
    """
    ctx = click.get_current_context(silent=True)
    token = (ctx.meta.get(_TOKEN) if ctx is not None else None) or None
    url = gateway_url(flag, stack)
    if token:
        auth, tried = None, "the bearer token given with -k/--token"
    elif not login:
        auth, tried = None, "no credentials (an invocation sends none)"
    else:
        auth, tried = credentials_for(url)
    if ctx is not None:  # for the error line of a 401 (PyfaasGroup.invoke)
        ctx.meta[_URL], ctx.meta[_TRIED] = url, tried
    return Access(url, auth, token, tls_verify())


def open_client(
    flag: str | None, stack: Stack | None = None, *, timeout: float | None = 60.0
) -> GatewayClient:
    from pyfaas.client import GatewayClient

    found = access(flag, stack)
    return GatewayClient(found.url, found.auth, timeout, token=found.token, verify=found.verify)


def function_url(
    gateway: str, name: str, namespace: str | None, *, asynchronous: bool = False
) -> str:
    from pyfaas.client._invoke import function_ref

    route = "async-function" if asynchronous else "function"
    return f"{gateway}/{route}/{function_ref(name, namespace)}"


def parse_pairs(values: Iterable[str], flag: str) -> dict[str, str]:
    """``k=v`` flags (``-e``, ``-l``, ``--annotation``, ``-b``) into a map."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"{flag}: {value!r} must be KEY=VALUE")
        out[key.strip()] = rest
    return out


def parse_header(value: str) -> tuple[str, str]:
    """``K: V`` or the legacy ``K=V``: whichever separator comes first splits it."""
    positions = [i for i in (value.find(":"), value.find("=")) if i >= 0]
    if not positions:
        raise BadRequest(f"--header: {value!r} must be 'Name: value' or Name=value")
    cut = min(positions)
    key, rest = value[:cut].strip(), value[cut + 1 :].strip()
    if not key or any(c.isspace() for c in key):
        raise BadRequest(f"--header: {value!r} has no valid header name")
    return key, rest


def parse_query(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key:
        raise BadRequest(f"--query: {value!r} must be key=value")
    return key, rest
