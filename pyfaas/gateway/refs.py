"""Function references in invocation paths: ``name[.namespace]``, split once and remembered.

``/function/<ref>/...`` and ``/async-function/<ref>/...`` name a function the
same way. The reference as sent (still percent-encoded) is the cache key, so
a busy function costs one dictionary look-up a call; an invalid reference is
a 404 with OpenFaaS's wording.
"""

from __future__ import annotations

from urllib.parse import unquote

from pyfaas.errors import InvalidName, NotFound
from pyfaas.naming import split_function_ref

CACHE_SIZE = 4096  # references remembered; beyond it they are split every time


class FunctionRefs:
    """Splits references against one default namespace."""

    def __init__(self, default_namespace: str) -> None:
        self._namespace = default_namespace
        self._known: dict[str, tuple[str, str, str]] = {}

    def split(self, raw_ref: str) -> tuple[str, str, str]:
        """(name, namespace, "name.namespace") of ``raw_ref``; ``NotFound`` if invalid."""
        found = self._known.get(raw_ref)
        if found is None:
            ref = unquote(raw_ref)
            try:
                name, namespace = split_function_ref(ref, self._namespace)
            except InvalidName as exc:
                raise NotFound(f"error finding function {ref}: {exc}") from None
            found = (name, namespace, f"{name}.{namespace}")
            if len(self._known) < CACHE_SIZE:
                self._known[raw_ref] = found
        return found
