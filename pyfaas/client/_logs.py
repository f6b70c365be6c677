"""A function's logs: ``GET /system/logs``, one JSON line per message, followed or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
from pydantic import ValidationError

from pyfaas.errors import PyfaasError
from pyfaas.types import LogMessage, format_time

from ._base import Transport
from ._errors import error_for_status, translate_transport


class LogsAPI(Transport):
    def logs(
        self,
        name: str,
        namespace: str | None = None,
        *,
        follow: bool = False,
        tail: int = -1,
        since: datetime | None = None,
        instance: str | None = None,
    ) -> Iterator[LogMessage]:
        """Log lines of a function, as they arrive; endless while ``follow``."""
        params = {"name": name, "follow": "true" if follow else "false", "tail": str(tail)}
        params.update(self._ns(namespace))
        if since is not None:
            params["since"] = format_time(since)
        if instance:
            params["instance"] = instance
        # A followed stream is quiet for as long as the function is: no read time-out.
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream(
                "GET", "/system/logs", params=params, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise error_for_status(
                        response.status_code, response.text, f"no logs for function: {name}"
                    )
                for line in response.iter_lines():
                    if line.strip():
                        yield _log_message(line)
        except httpx.HTTPError as exc:
            raise translate_transport(exc, self.base_url) from exc


def _log_message(line: str) -> LogMessage:
    try:
        return LogMessage.model_validate_json(line, strict=False)
    except ValidationError as exc:
        raise PyfaasError(f"the gateway sent an invalid log line: {line[:120]}") from exc
