"""A request bin: record every request sent to the function, and serve the records.

``GET <function>/_bin/requests`` answers the records as a JSON list, oldest
first, each ``{"id", "time", "method", "path", "query", "headers", "body"}``
(a body that is not UTF-8 comes as base64, with ``"bodyEncoding": "base64"``;
past 1 MiB it is cut and ``"bodyTruncated"`` gives its size);
``?tail=N`` keeps the last N. That path is not itself recorded; every other
request is, and is answered ``200 {"recorded": id}``. Only the standard
library is used, so the function deploys with no network.

The records are appended, one JSON line each, to ``requests.ndjson`` in the
function's writable directory (``$bin_dir``, else ``$PYFAAS_DATA_DIR``, else
its temporary directory). pyfaas gives each function a data directory of its
own that outlives its replicas, so the records are kept across restarts of the
function and of the platform, and dropped when the function is removed; at
most ``$bin_max_requests`` (500) are kept, the oldest dropped. The bin is
meant to run as one replica: replicas sharing the directory would each keep
their own list and rewrite the file with it.
"""

import base64
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

READ_PATH = "/_bin/requests"
FILE_NAME = "requests.ndjson"
MAX_BODY = 1024 * 1024  # bytes of a body kept; the rest is cut, and the record says so


def _limit():
    try:
        return max(1, int(os.environ.get("bin_max_requests", "500")))
    except ValueError:
        return 500


def _directory():
    for key in ("bin_dir", "PYFAAS_DATA_DIR"):
        if os.environ.get(key):
            return os.environ[key]
    return tempfile.gettempdir()


class Bin:
    """The records of one process, mirrored in an append-only file of JSON lines."""

    def __init__(self, path, limit):
        self._path = path
        self._limit = limit
        self._lock = threading.Lock()  # slow handlers run on threads
        self._torn = False  # the file ends in a line cut short: rewrite it whole
        self._records = self._load()
        self._lines = len(self._records)
        self._next = (self._records[-1]["id"] + 1) if self._records else 1

    def _load(self):
        try:
            with open(self._path, encoding="utf-8") as lines:
                loaded = []
                for line in lines:
                    try:
                        loaded.append(json.loads(line))
                    except ValueError:
                        self._torn = True  # a line cut short by a crash mid-write
                return loaded[-self._limit :]
        except OSError:
            return []

    def add(self, record):
        with self._lock:
            record["id"] = self._next
            self._next += 1
            self._records.append(record)
            del self._records[: -self._limit]
            self._write(record)
            return record["id"]

    def _write(self, record):
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            if self._torn or self._lines >= 2 * self._limit:
                # Compact: the file holds at most twice the kept records.
                scratch = self._path + ".new"
                with open(scratch, "w", encoding="utf-8") as out:
                    out.writelines(json.dumps(r) + "\n" for r in self._records)
                os.replace(scratch, self._path)
                self._lines = len(self._records)
                self._torn = False
            else:
                with open(self._path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")
                self._lines += 1
        except OSError:
            pass  # a full or read-only disk: the records stay in memory

    def tail(self, count=None):
        with self._lock:
            records = list(self._records)
        if count is None:
            return records
        return records[len(records) - count :] if count else []


_BIN = None


def _bin():
    global _BIN
    if _BIN is None:
        _BIN = Bin(os.path.join(_directory(), FILE_NAME), _limit())
    return _BIN


def _record(event):
    body = event.body or b""
    if isinstance(body, str):
        body = body.encode()
    body = bytes(body)
    record = {
        "time": datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds"),
        "method": event.method,
        "path": event.path or "/",
        "query": urlencode(dict(event.query or {})),
        "headers": _headers(event.headers),
    }
    if len(body) > MAX_BODY:
        record["bodyTruncated"] = len(body)
        body = body[:MAX_BODY]
    try:
        record["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        record["body"] = base64.b64encode(body).decode()
        record["bodyEncoding"] = "base64"
    return record


def _headers(headers):
    out = {}
    for key, value in headers.items():
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _json(status, data):
    return {
        "statusCode": status,
        "body": json.dumps(data, indent=None) + "\n",
        "headers": {"Content-Type": "application/json"},
    }


def handle(event, context):
    if (event.path or "/").rstrip("/") == READ_PATH:
        if event.method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{READ_PATH} is read with GET"})
        raw = (event.query or {}).get("tail", "")
        count = None
        if raw:
            try:
                count = int(raw)
            except ValueError:
                count = -1
            if count < 0:
                return _json(400, {"error": f"tail {raw!r} must be a whole number >= 0"})
        return _json(200, _bin().tail(count))
    return _json(200, {"recorded": _bin().add(_record(event))})
