"""One platform on many machines: shared state in NATS JetStream.

With ``pyfaas serve --cluster nats://...``, function definitions and secrets
live in JetStream KV buckets instead of the host's state directory; every host
reconciles its own replicas to them (``reconciler``), and says it is alive in a
heartbeat bucket (``heartbeat``). ``ClusterProvider`` (``provider``) is the
gateway's ``Provider``: it writes definitions to KV and leaves the running of
replicas to the wrapped local provider. Secret values are sealed with the
cluster key (``secretbox``) before they leave the host.
"""
