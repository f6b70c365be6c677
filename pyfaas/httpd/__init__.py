"""pyfaas's own small HTTP/1.1 server on asyncio and httptools, for the hot paths.

The watchdog serves every request with it, and the gateway serves its public
port with it (invocations directly, the rest passed to the API application);
see docs/performance.md for the measurements that chose it over aiohttp's
server. ``server.Listener`` is the entry point, ``limits.Limits`` what it
allows a client.
"""
