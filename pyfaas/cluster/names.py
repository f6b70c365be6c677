"""The cluster's JetStream names and how functions and secrets map to KV keys.

Keys are ``<namespace>.<name>``: a namespace is a DNS label (no dots), so the
first token is always the namespace and ``<namespace>.>`` lists one namespace.
"""

from __future__ import annotations

import re

FUNCTIONS_BUCKET = "pyfaas_functions"
SECRETS_BUCKET = "pyfaas_secrets"
HOSTS_BUCKET = "pyfaas_hosts"
# In the secrets bucket; no namespace starts with an underscore, so listings skip it.
CHECK_KEY = "_check"
# Also there: the admin credentials and callback signing key every host of the cluster uses.
ADMIN_KEY = "_admin"


def reserved(kv_key: str) -> bool:
    """A key of the platform's own in the secrets bucket, never a user's secret."""
    return kv_key.startswith("_")


def key(namespace: str, name: str) -> str:
    return f"{namespace}.{name}"


def split_key(kv_key: str) -> tuple[str, str]:
    namespace, _, name = kv_key.partition(".")
    return namespace, name


def host_key(host: str) -> str:
    """A host name as a KV key: characters KV keys cannot hold become ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", host) or "host"
