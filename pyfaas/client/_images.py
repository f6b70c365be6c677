"""Images: ``/system/images/sha256:<digest>``, asked for first and uploaded if missing.

The archive is streamed from its file with its ``Content-Length`` (never
chunked: a gateway's front passes a sized body on as a stream), and
``progress(sent, total)`` hears of each megabyte as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from ._base import Transport
from ._errors import error_for_status

CHUNK = 1 << 20
# After the last byte the gateway unpacks the image (and publishes it to its
# cluster) before it answers: give that time.
ANSWER_TIMEOUT = 600.0
Progress = Callable[[int, int], None]


class ImagesAPI(Transport):
    def has_image(self, digest: str, image: str | None = None) -> bool:
        """True if the gateway has the archive ``digest`` (as ``image``'s, if given)."""
        params = {"image": image} if image else {}
        response = self._send("HEAD", f"/system/images/{digest}", params=params)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise error_for_status(
                response.status_code, "", f"HEAD /system/images: HTTP {response.status_code}"
            )
        return True

    def push_image(
        self,
        image: str,
        archive: Path,
        digest: str,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Upload ``archive`` (of ``digest``) as ``image``; the gateway's record of it."""
        total = archive.stat().st_size
        timeout = httpx.Timeout(self._timeout, read=ANSWER_TIMEOUT)
        response = self._call(
            "PUT",
            f"/system/images/{digest}",
            params={"image": image},
            content=_chunks(archive, total, progress),
            headers={"Content-Type": "application/gzip", "Content-Length": str(total)},
            timeout=timeout,
            fallback=f"upload of {image}: HTTP error",
        )
        data = self._json(response)
        return data if isinstance(data, dict) else {}


def _chunks(archive: Path, total: int, progress: Progress | None) -> Iterator[bytes]:
    sent = 0
    with archive.open("rb") as source:
        while chunk := source.read(CHUNK):
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(sent, total)
