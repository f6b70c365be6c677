"""``pyfaas serve``: one platform on one machine, supervised in the foreground.

Binds the gateway's port (``--port 0``: any free one, said in the lines
serve prints), prepares the state directory and the admin credentials, then
runs the supervisor (gateway, then queue-worker). Several platforms run side
by side with their own ``--port`` and ``PYFAAS_HOME``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.text import Text

from pyfaas import __version__, credentials
from pyfaas.cluster import joining
from pyfaas.errors import ConfigError
from pyfaas.httpd.server import BACKLOG
from pyfaas.logformat import json_line, log_format
from pyfaas.logstore import LogStore
from pyfaas.paths import SYSTEM_NAMESPACE, StatePaths, default_home
from pyfaas.serve.supervisor import Supervisor


class Options(Protocol):
    port: int
    bind: str
    queue: str | None
    home: Path | None
    cluster: str | None
    cluster_key_file: Path | None


def _listen(bind: str, port: int) -> socket.socket:
    """The gateway's listening socket on ``bind:port`` (port 0: one the kernel picks).

    Bound here, before anything starts, so a taken port fails serve at once
    and every start of the gateway inherits the same socket.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {bind} is in use: is another pyfaas serve running?"
                " Choose another with --port"
            ) from exc
        raise ConfigError(f"cannot listen on {bind} port {port}: {exc.strerror}") from exc
    return sock


def _teller(console: Console, fmt: str) -> Callable[[str], None]:
    """How serve says its own lines: rich text on the terminal, or JSON lines."""
    if fmt == "text":
        return console.print

    def say(markup: str) -> None:
        sys.stderr.write(json_line("serve", Text.from_markup(markup).plain) + "\n")

    return say


def _terminal_line(component: str, instance: str, text: str, json_lines: bool) -> str:
    """A child's line for the terminal: prefixed with its name; as JSON, a JSON line
    passes as it is and anything else (a crash before its logging started) is wrapped."""
    if not json_lines:
        return f"[{component}] {text}"
    if text.startswith("{"):
        return text
    return json_line(component, text, instance=instance)


def _join(
    urls: str, key_file: Path | None, paths: StatePaths, own: credentials.Credentials
) -> tuple[dict[str, str], credentials.Credentials, bool]:
    """Join the cluster: its environment, and its admin credentials made this host's own."""
    proposed = joining.Admin(own.user, own.password, credentials.signing_key(paths).decode())
    env, admin, created = joining.prepare(urls, key_file, proposed)
    shared = credentials.Credentials(admin.user, admin.password)
    credentials.save(paths, shared, admin.signing_key.encode())
    return env, shared, created


def _cluster_queue(cluster: dict[str, str]) -> dict[str, str]:
    return {"PYFAAS_QUEUE": joining.queue_url(cluster)}


def _say_credentials(
    say: Callable[[str], None],
    paths: StatePaths,
    creds: credentials.Credentials,
    created: bool,
    gateway_url: str,
    shared: bool,
) -> None:
    password_file = paths.credentials / credentials.PASSWORD_FILE
    if created:
        say(
            f"Generated admin credentials (shown once): user [bold]{creds.user}[/bold]"
            f" password [bold]{creds.password}[/bold]"
        )
    whose = " (the cluster's: the same on every host)" if shared else ""
    say(f"Admin credentials{whose}: user {creds.user}, password in {password_file} (mode 0600)")
    say(
        f"Log in with: cat {password_file} | pyfaas login -g {gateway_url}"
        " --username admin --password-stdin"
    )


def run(options: Options) -> int:
    """Serve until interrupted; returns the process exit code."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    say = _teller(console, log_format(os.environ))  # PYFAAS_LOG_FORMAT: text or json lines
    # The port first: a taken one fails serve before it creates anything.
    listener = _listen(options.bind, options.port)
    port = int(listener.getsockname()[1])
    home = options.home.expanduser().resolve() if options.home else default_home(os.environ)
    paths = StatePaths(home).ensure()
    creds, created = credentials.ensure(paths)
    cluster_urls = options.cluster or os.environ.get("PYFAAS_CLUSTER")
    cluster: dict[str, str] = {}
    if cluster_urls:
        # One of several hosts (docs/cluster.md): the key is checked before anything starts.
        cluster, creds, created = _join(cluster_urls, options.cluster_key_file, paths, creds)
    queue = options.queue or os.environ.get("PYFAAS_QUEUE") or ""
    fresh: Callable[[], dict[str, str]] | None = None
    if cluster and not queue:
        # Each component's start connects the queue to a cluster server that answers then.
        fresh = functools.partial(_cluster_queue, cluster)
        queue = fresh()["PYFAAS_QUEUE"]
    queue = queue or f"sqlite://{paths.queue_db}"
    host = "127.0.0.1" if options.bind in ("0.0.0.0", "::", "") else options.bind
    gateway_url = f"http://{host}:{port}"

    say(f"[bold]pyfaas {__version__}[/bold]  state: {home}  queue: {queue}")
    _say_credentials(say, paths, creds, created, gateway_url, shared=bool(cluster))

    env = dict(os.environ)
    env.update(
        PYFAAS_HOME=str(home),
        PYFAAS_PORT=str(port),
        PYFAAS_BIND=options.bind,
        PYFAAS_QUEUE=queue,
        PYFAAS_GATEWAY=gateway_url,
        # Children's output reaches the supervisor through pipes: unbuffered.
        PYTHONUNBUFFERED="1",
    )
    env.update(cluster)
    logs = LogStore(paths)

    def sink(component: str, instance: str, text: str) -> None:
        logs.append(SYSTEM_NAMESPACE, component, instance, text)
        sys.stderr.write(_terminal_line(component, instance, text, json_lines) + "\n")

    json_lines = log_format(os.environ) == "json"
    supervisor = Supervisor(env, gateway_url, sink, say, fresh, listener)
    try:
        import uvloop

        return uvloop.run(supervisor.run())
    except ImportError:
        return asyncio.run(supervisor.run())


__all__ = ["Options", "run"]
