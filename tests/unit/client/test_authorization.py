"""The Authorization header and TLS context the client sends with."""

from __future__ import annotations

import base64
import ssl

from pyfaas.client._invoke import authorization, tls_context


def test_basic_auth_is_base64_of_user_and_password() -> None:
    header = authorization(("admin", "s3:cret"), None)
    assert header is not None
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == b"admin:s3:cret"


def test_a_token_wins_over_basic_auth() -> None:
    assert authorization(("admin", "pw"), "abc.def") == "Bearer abc.def"
    assert authorization(None, "abc") == "Bearer abc"


def test_no_credentials_no_header() -> None:
    assert authorization(None, None) is None
    assert authorization(None, "") is None


def test_tls_context_verifies_unless_told_not_to() -> None:
    strict = tls_context(verify=True)
    assert strict.verify_mode == ssl.CERT_REQUIRED
    assert strict.check_hostname
    lax = tls_context(verify=False)
    assert lax.verify_mode == ssl.CERT_NONE
    assert not lax.check_hostname
