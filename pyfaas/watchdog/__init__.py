"""The per-replica runtime: OpenFaaS's watchdog contract in classic, http and inproc modes.

Started as ``python -m pyfaas.watchdog`` and configured only by environment
(see ``settings``). ``create_app`` is the composition root; ``main.run``
drives one process from listening to draining.
"""

from pyfaas.watchdog.app import Watchdog, create_app
from pyfaas.watchdog.settings import WatchdogSettings

__all__ = ["Watchdog", "WatchdogSettings", "create_app"]
