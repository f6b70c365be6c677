"""Benchmarks of pyfaas against the yardsticks OpenFaaS is measured by.

``python -m bench`` starts real gateways, queue-workers, replicas, an aiohttp
echo server and a nats-server on this machine, drives them with ``wrk`` and
small asyncio clients, and prints one table of ratios with their targets.
"""
