"""A request bin's records: ``GET /function/NAME/_bin/requests``, as the ``request-bin``
store function serves them.

The records are read from the function itself, like any invocation, and
without the admin credentials: those are the gateway's, never a function's.
"""

from __future__ import annotations

import json
from typing import Any

from pyfaas.errors import NotFound, PyfaasError

from ._base import Transport
from ._invoke import function_ref, send

BIN_PATH = "/_bin/requests"


class BinAPI(Transport):
    def bin_requests(
        self, name: str = "request-bin", namespace: str | None = None, *, tail: int | None = None
    ) -> list[dict[str, Any]]:
        """The requests the bin ``name`` recorded, oldest first (the last ``tail`` only)."""
        query = [] if tail is None else [("tail", str(tail))]
        answer = send(
            self.base_url,
            "GET",
            f"/function/{function_ref(name, namespace)}{BIN_PATH}",
            query=query,
            timeout=self._timeout,
            verify=self._verify,
        )
        if answer.status == 404:
            raise NotFound(
                f"no request bin {name!r} on {self.base_url}:"
                f" deploy one with `pyfaas store deploy request-bin --name {name}`"
                if name != "request-bin"
                else f"no request bin on {self.base_url}: deploy it with"
                " `pyfaas store deploy request-bin`"
            )
        answer.check()
        try:
            records = json.loads(answer.body)
        except ValueError:
            records = None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise PyfaasError(
                f"function {name} did not answer {BIN_PATH} with a JSON list of records:"
                " is it the request-bin store function?"
            )
        return records
