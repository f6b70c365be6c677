"""``python -m pyfaas.gateway``: the gateway process, configured by its environment."""

from __future__ import annotations

import os
import sys

from pyfaas.errors import ConfigError
from pyfaas.gateway.server import main

if __name__ == "__main__":
    try:
        main(os.environ)
    except ConfigError as exc:
        print(f"pyfaas gateway: {exc}", file=sys.stderr)
        sys.exit(2)
