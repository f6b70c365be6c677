"""``python -m pyfaas.watchdog``: one function replica."""

import sys

from pyfaas.watchdog.main import main

sys.exit(main())
