"""Function, namespace and secret names: validation and the ``name.namespace`` rule.

OpenFaaS names are DNS-1123 labels; a namespace rides after the *last* dot of
a function reference (``figlet.openfaas-fn``). Everything that turns a string
from the outside into a name goes through here, so no other module needs to
think about path traversal or odd characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyfaas.errors import ConfigError, InvalidName

DEFAULT_NAMESPACE = "openfaas-fn"
# fullmatch, not match: "$" also matches before a trailing newline.
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_name(name: str, *, kind: str = "function") -> str:
    """Return ``name`` if it is a DNS-1123 label of at most 63 characters."""
    if not name:
        raise InvalidName(f"{kind} name is required")
    if len(name) > 63 or not _LABEL.fullmatch(name):
        raise InvalidName(
            f"{kind} name {name[:80]!r} is invalid: use lower-case letters, digits and '-',"
            " starting and ending with a letter or digit, at most 63 characters"
        )
    return name


def validate_namespace(namespace: str) -> str:
    return validate_name(namespace, kind="namespace")


def validate_secret_name(name: str) -> str:
    """Secrets may be DNS-1123 subdomains (dots allowed, never ``..`` or ``/``)."""
    if not name:
        raise InvalidName("secret name is required")
    if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        raise InvalidName(
            f"secret name {name[:80]!r} is invalid: use lower-case letters, digits, '-' and '.'"
        )
    return name


def split_function_ref(ref: str, default_namespace: str = DEFAULT_NAMESPACE) -> tuple[str, str]:
    """``figlet.ns`` -> (``figlet``, ``ns``); no dot -> the default namespace.

    Both parts are validated, so ``.openfaas-fn`` (an empty name) raises.
    """
    name, dot, namespace = ref.rpartition(".")
    if not dot:
        name, namespace = ref, default_namespace
    return validate_name(name), validate_namespace(namespace or default_namespace)


def namespace_setting(environ: Mapping[str, str]) -> str:
    """The ``function_namespace`` setting: the default namespace, validated."""
    namespace = environ.get("function_namespace", "").strip() or DEFAULT_NAMESPACE
    try:
        return validate_namespace(namespace)
    except InvalidName as exc:
        raise ConfigError(f"function_namespace: {namespace!r} is not a valid namespace") from exc
