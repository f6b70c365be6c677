"""pyfaas: a serverless functions platform that speaks the OpenFaaS API.

The package is split by process role; see docs/architecture.md for the map.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
