"""``X-Callback-Url`` values that could carry headers into the callback request, reach
link-local or metadata addresses or this gateway's own API, or show their credentials."""

from __future__ import annotations

import pytest
from yarl import URL

from pyfaas.errors import BadRequest, ConfigError
from pyfaas.gateway.async_submit import callback_url
from pyfaas.gateway.callback_rules import CallbackRules, OwnAddress, redact
from pyfaas.gateway.settings import GatewaySettings


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1:1/cb\r\nX-Injected: 1",
        "http://127.0.0.1:1/cb\nX-Injected: 1",
        "http://h\r\n/x",
        "http://h/x\x00",
        "http://h/\x7f",
        "http://h/\tx",
    ],
)
def test_control_characters_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest, match="control characters") as caught:
        callback_url(raw)
    assert caught.value.status == 400


def test_encoded_line_breaks_stay_encoded() -> None:
    url = callback_url("http://h/cb%0d%0aX-Injected:%201")
    assert url is not None
    assert "\r" not in url
    assert "\n" not in url


def test_a_plain_url_passes() -> None:
    assert callback_url(" http://127.0.0.1:9/cb ") == "http://127.0.0.1:9/cb"
    assert callback_url(None) is None


# -- where a callback may go (callback_rules) ----------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.0.1:8080/x",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/x",
        # inet_aton's forms, which the resolver reads as the same address
        "http://2852039166/latest/meta-data/",
        "http://169.254.43518/x",
        "http://0xa9.0xfe.0xa9.0xfe/x",
    ],
)
def test_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    rules = CallbackRules((), 5)
    with pytest.raises(BadRequest, match="link-local or metadata") as caught:
        rules.check(URL(url), OwnAddress(None, 0))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("http://127.0.0.1:8080/system/functions", OwnAddress(None, 8080)),
        ("http://localhost:8080/system/secrets", OwnAddress(None, 8080)),
        ("http://[::1]:8080//system/info", OwnAddress(None, 8080)),
        ("http://gw.example:80/system", OwnAddress("gw.example", 8080)),
        ("http://GW.example:31112/system/x", OwnAddress("gw.example:31112", 0)),
        ("http://127.0.0.1:8080/%73ystem/functions", OwnAddress(None, 8080)),
        ("http://127.0.0.1:8080/a/../system/x", OwnAddress(None, 8080)),
        ("http://127.1:8080/system/functions", OwnAddress(None, 8080)),
        ("http://[::ffff:127.0.0.1]:8080/system/functions", OwnAddress(None, 8080)),
        ("http://0.0.0.0:8080/system/functions", OwnAddress(None, 8080)),
    ],
)
def test_this_gateways_system_api_is_refused(url: str, own: OwnAddress) -> None:
    with pytest.raises(BadRequest, match="/system API"):
        CallbackRules((), 5).check(URL(url), own)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/async-function/next",  # a chain: allowed, depth-capped
        "http://127.0.0.1:9000/system/functions",  # another server on this host
        "http://10.0.0.5/cb",
        "https://hooks.example.com/system/x",
        "http://deadbeef.example/cb",  # hex-looking labels are names, not addresses
    ],
)
def test_other_callbacks_pass(url: str) -> None:
    CallbackRules((), 5).check(URL(url), OwnAddress("127.0.0.1:8080", 8080))


def test_the_allow_list_lets_hosts_and_networks_through() -> None:
    rules = CallbackRules(("169.254.10.0/24", "metadata.internal", "fd00:ec2::254"), 5)
    own = OwnAddress(None, 8080)
    rules.check(URL("http://169.254.10.7/cb"), own)
    rules.check(URL("http://[fd00:ec2::254]/cb"), own)
    rules.check(URL("http://Metadata.Internal/cb"), own)
    with pytest.raises(BadRequest):
        rules.check(URL("http://169.254.169.254/cb"), own)


def test_a_bad_allow_list_fails_at_start() -> None:
    with pytest.raises(ConfigError, match="PYFAAS_CALLBACK_ALLOW"):
        GatewaySettings.from_env({"PYFAAS_CALLBACK_ALLOW": "10.0.0.0/8, not a host"})
    settings = GatewaySettings.from_env({"PYFAAS_CALLBACK_ALLOW": " 10.0.0.0/8 ,hooks.local,"})
    assert settings.callback_allow == ("10.0.0.0/8", "hooks.local")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@host/cb", "http://user:***@host/cb"),
        ("https://u:p%40ss@host:8443/cb?x=1", "https://u:***@host:8443/cb?x=1"),
        ("http://token@host/", "http://***@host/"),
        ("http://host/cb?next=a@b", "http://host/cb?next=a@b"),
        ("http://host/cb", "http://host/cb"),
    ],
)
def test_credentials_are_redacted(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_refused_url_is_shown_redacted_in_the_message() -> None:
    with pytest.raises(BadRequest) as caught:
        CallbackRules((), 5).check(URL("http://u:secret@169.254.169.254/"), OwnAddress(None, 0))
    assert "secret" not in caught.value.message
    assert "u:***@" in caught.value.message
    with pytest.raises(BadRequest) as bad:
        callback_url("ftp://u:secret@host/x")
    assert "secret" not in bad.value.message
