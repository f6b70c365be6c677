"""``python -m pyfaas.worker``: the queue-worker process, configured by environment."""

from __future__ import annotations

import asyncio
import os
import sys

from pyfaas.errors import ConfigError, PyfaasError
from pyfaas.logformat import line_writer, log_format
from pyfaas.worker.app import run_worker
from pyfaas.worker.settings import WorkerSettings


def main() -> int:
    try:
        settings = WorkerSettings.from_env(os.environ)
        # PYFAAS_LOG_FORMAT: the event lines as they are, or each as a JSON line.
        stream = line_writer(sys.stdout, "queue-worker", log_format(os.environ))
        try:
            import uvloop
        except ImportError:  # the platform runs without it, a little slower
            return asyncio.run(run_worker(settings, stream=stream))
        return uvloop.run(run_worker(settings, stream=stream))
    except ConfigError as exc:
        print(f"queue-worker: {exc}", file=sys.stderr)
        return 2
    except PyfaasError as exc:
        print(f"queue-worker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
