"""pyfaas's own small HTTP/1.1 server on asyncio and httptools, for the hot paths.

The watchdog serves every request with it, and the gateway serves
invocations (``/function/``, ``/async-function/``) with it; see
docs/performance.md for the measurements that chose it over aiohttp's server.
"""
