"""The queue-worker: claims asynchronous calls, invokes them through the gateway,
retries, dead-letters and posts callbacks.

``WorkerSettings.from_env(environ)`` reads the settings; ``run_worker(settings)``
runs the worker until SIGTERM or SIGINT and returns the process exit code.
"""

from pyfaas.worker.app import run_worker
from pyfaas.worker.settings import WorkerSettings

__all__ = ["WorkerSettings", "run_worker"]
