"""The operator's portal at /ui/, driven in headless Chromium against a real ``pyfaas serve``.

Each test opens the portal in a fresh browser, works one view as an operator
would (sign in, deploy from the store, invoke, follow and cancel
asynchronous calls, replay and purge dead letters, read logs, the request
bin, the rate chart), checks what the page shows against the gateway's API,
and keeps a screenshot of the view.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.portal import Browser, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FAILING = {"service": "fails", "image": "ghcr.io/openfaas/alpine:latest", "envProcess": "false"}


def ready(browser: Browser, name: str) -> bool:
    answer = browser.api("GET", f"/system/function/{name}")
    return answer.status_code == 200 and answer.json().get("availableReplicas", 0) > 0


def deployed(browser: Browser, spec: dict[str, Any]) -> None:
    """``spec`` deployed through the API (updated if it is already), with a replica ready."""
    answer = browser.api("POST", "/system/functions", json=spec)
    if answer.status_code == 409:
        answer = browser.api("PUT", "/system/functions", json=spec)
    assert answer.status_code == 202, answer.text
    eventually(lambda: ready(browser, spec["service"]))


def env_from_store(browser: Browser) -> None:
    """The store's ``env``, deployed through the API as the store view deploys it."""
    store = {item["name"]: item for item in browser.api("GET", "/ui/api/store").json()}
    item = store["env"]
    deployed(
        browser,
        {"service": "env", "image": item["image"], "envProcess": item["fprocess"], "labels": {}},
    )


def settled_count(page: Any, lines: Any) -> int:
    """How many lines the log shows once no more came for half a second."""
    seen = -1
    while (now := lines.count()) != seen:
        seen = now
        page.wait_for_timeout(500)
    return seen


def record(browser: Browser, call_id: str) -> dict[str, Any]:
    answer = browser.api("GET", f"/system/calls/{call_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_portal_signs_in_with_its_own_form_and_signs_out(browser: Browser) -> None:
    # The API keeps the challenge faas-cli expects; the page itself is served
    # to anyone, and asks in its own form (the browser has no credentials to
    # offer: a Basic prompt would fail the page).
    api = httpx.get(f"{browser.platform.url}/system/info", timeout=10)
    assert api.status_code == 401
    assert api.headers["WWW-Authenticate"].startswith("Basic")
    page = browser.open(auth=False)
    assert browser.response.status == 200
    page.wait_for_selector("#login-form input[name=password]")
    assert page.locator("#signout").is_hidden()
    assert page.locator("table.functions").count() == 0  # no view runs before signing in
    browser.shot(page, "sign-in")

    challenged: list[str] = []  # a 401 with the challenge would be the browser's prompt
    page.on(
        "response",
        lambda r: (
            challenged.append(r.url)
            if r.status == 401 and "www-authenticate" in r.headers
            else None
        ),
    )
    browser.sign_in(page, password="not-the-password")
    error = page.locator("#login-error")
    error.filter(has_text="Wrong user or password.").wait_for()
    assert error.inner_text().count("\n") == 0
    assert page.locator("#login").is_visible()
    assert challenged == []
    browser.shot(page, "sign-in-wrong")

    browser.sign_in(page)
    assert page.locator("#who").inner_text() == "Signed in as admin"
    page.wait_for_selector(".card:has-text('Functions') >> text=/No functions|Name/")
    assert page.evaluate("Object.keys(localStorage)") == []  # kept for this tab only
    assert page.evaluate("sessionStorage.getItem('pyfaas.portal.auth')").startswith("Basic ")

    page.click("#signout")
    page.wait_for_selector("#login-form input[name=password]")
    assert page.locator("#signout").is_hidden()
    assert page.evaluate("sessionStorage.getItem('pyfaas.portal.auth')") is None
    page.goto(f"{browser.platform.url}/ui/#/calls")  # a fresh load still asks
    page.wait_for_selector("#login-form input[name=password]")
    assert page.locator("#login").is_visible()


def test_deploy_from_the_store_then_see_the_function(browser: Browser) -> None:
    page = browser.open("store")
    item = page.locator("form[data-store=env]")
    item.locator("button[type=submit]").click()
    item.locator("text=Ready.").wait_for(timeout=90_000)
    browser.shot(page, "store")
    assert ready(browser, "env")

    page.click("#nav a[data-view=functions]")
    row = page.locator("table.functions tr[data-function=env]")
    row.wait_for()
    assert row.locator(".replicas-cell").inner_text().startswith("1/1")
    assert "ghcr.io/openfaas/alpine" in row.inner_text()
    assert row.locator("a:has-text('Logs')").get_attribute("href") == "#/logs?name=env"
    browser.shot(page, "functions")


def test_invoke_synchronously_shows_status_headers_body_and_duration(browser: Browser) -> None:
    env_from_store(browser)
    page = browser.open("invoke?fn=env")
    page.wait_for_selector("select[name=function] option[value=env]", state="attached")
    page.select_option("select[name=function]", "env")
    page.fill("textarea[name=headers]", "X-Portal-Test: hello-from-the-portal")
    page.fill("textarea[name=body]", "the body")
    page.click("form.invoke button[type=submit]")
    page.wait_for_selector(".answer .badge-ok")
    answer = page.locator(".answer")
    assert answer.locator(".badge").inner_text().startswith("200")
    # env prints the request's headers as Http_ variables.
    assert "Http_X_Portal_Test=hello-from-the-portal" in answer.locator("pre.body").inner_text()
    assert re.fullmatch(r"\d+ ms|[\d.]+ s", answer.locator(".duration").inner_text())
    assert "content-type" in answer.locator("table.headers").inner_text().lower()
    browser.shot(page, "invoke-sync")


def test_an_async_call_from_the_portal_succeeds_and_shows_its_result(browser: Browser) -> None:
    env_from_store(browser)
    page = browser.open("invoke?fn=env")
    page.wait_for_selector("select[name=function] option[value=env]", state="attached")
    page.select_option("select[name=function]", "env")
    page.check("input[name=mode][value=async]")
    page.fill("textarea[name=headers]", "X-Portal-Async: yes")
    page.click("form.invoke button[type=submit]")
    page.wait_for_selector(".answer .badge:has-text('202')")
    follow = page.locator(".answer a:has-text('Follow call')")
    call_id = follow.inner_text().removeprefix("Follow call ").strip()
    assert call_id
    browser.shot(page, "invoke-async")

    follow.click()
    page.wait_for_selector("dl.record .badge-succeeded", timeout=60_000)
    page.wait_for_selector("pre.result-body")
    assert "Http_X_Portal_Async=yes" in page.locator("pre.result-body").inner_text()
    assert record(browser, call_id)["state"] == "succeeded"
    browser.shot(page, "call")

    page.click("text=← all calls")
    row = page.locator(f"table.calls tr[data-call='{call_id}']")
    row.wait_for()
    assert "succeeded" in row.inner_text()
    page.select_option("select[name=state]", "delayed")
    row.wait_for(state="detached")
    page.select_option("select[name=state]", "succeeded")
    row.wait_for()
    browser.shot(page, "calls")


def test_cancel_a_delayed_call(browser: Browser) -> None:
    env_from_store(browser)
    page = browser.open("invoke?fn=env")
    page.wait_for_selector("select[name=function] option[value=env]", state="attached")
    page.select_option("select[name=function]", "env")
    page.check("input[name=mode][value=async]")
    page.fill("textarea[name=headers]", "X-Delay-Seconds: 600")
    page.click("form.invoke button[type=submit]")
    page.wait_for_selector(".answer .badge:has-text('202')")
    call_id = page.locator(".answer a:has-text('Follow call')").inner_text().split()[-1]
    assert record(browser, call_id)["state"] == "delayed"

    page.click("#nav a[data-view=calls]")
    row = page.locator(f"table.calls tr[data-call='{call_id}']")
    row.locator(".badge-delayed").wait_for()
    browser.shot(page, "calls-delayed")
    row.locator("button:has-text('Cancel')").click()
    row.locator(".badge-cancelled").wait_for()
    assert record(browser, call_id)["state"] == "cancelled"
    assert row.locator("button:has-text('Cancel')").count() == 0


def test_calls_submitted_elsewhere_are_listed_filtered_and_cancelled(browser: Browser) -> None:
    env_from_store(browser)
    url = f"{browser.platform.url}/async-function/env"
    done = httpx.post(url, content=b"now", timeout=10).headers["X-Call-Id"]
    later = httpx.post(url, content=b"later", headers={"X-Delay-Seconds": "600"}, timeout=10)
    assert later.status_code == 202
    delayed = later.headers["X-Call-Id"]
    eventually(lambda: record(browser, done)["state"] == "succeeded")

    page = browser.open("calls")
    rows = page.locator("table.calls tbody tr")
    page.locator(f"table.calls tr[data-call='{done}'] .badge-succeeded").wait_for()
    page.locator(f"table.calls tr[data-call='{delayed}'] .badge-delayed").wait_for()
    listed = [r.get_attribute("data-call") for r in rows.all()]
    assert listed.index(delayed) < listed.index(done)  # newest first
    browser.shot(page, "calls-listed")

    page.select_option("select[name=state]", "delayed")
    page.locator(f"table.calls tr[data-call='{done}']").wait_for(state="detached")
    assert {r.get_attribute("data-state") for r in rows.all()} == {"delayed"}
    page.select_option("select[name=function]", "env")
    row = page.locator(f"table.calls tr[data-call='{delayed}']")
    row.locator("button:has-text('Cancel')").click()
    # Refreshed while open: the cancelled call leaves the delayed filter.
    row.wait_for(state="detached")
    assert record(browser, delayed)["state"] == "cancelled"
    page.select_option("select[name=state]", "cancelled")
    row.locator(".badge-cancelled").wait_for()
    browser.shot(page, "calls-cancelled")

    row.locator(f"a:has-text('{delayed}')").click()
    page.wait_for_selector("dl.record .badge-cancelled")
    page.wait_for_selector("text=No result: the call is cancelled.")
    page.click("text=← all calls")
    page.locator(f"table.calls tr[data-call='{delayed}']").wait_for()


def test_replay_and_purge_dead_letters(browser: Browser) -> None:
    deployed(browser, FAILING)
    submitted = httpx.post(
        f"{browser.platform.url}/async-function/fails", content=b"dead-letter-body", timeout=10
    )
    assert submitted.status_code == 202
    call_id = submitted.headers["X-Call-Id"]
    eventually(lambda: record(browser, call_id)["state"] == "dead")
    first = record(browser, call_id)

    page = browser.open("dead")
    row = page.locator(f"table.dead tr[data-call='{call_id}']")
    row.wait_for()
    assert first["reason"]
    assert first["reason"] in row.inner_text()
    row.locator("button:has-text('Show')").click()
    page.wait_for_selector("tr.more pre.body:has-text('dead-letter-body')")
    assert page.locator("tr.more .request-line").inner_text().startswith("POST /function/fails")
    browser.shot(page, "dead-letters")

    row.locator("button:has-text('Replay')").click()
    page.wait_for_selector(f".toast:has-text('Replayed {call_id}')")
    # Replayed, it runs once more, fails again and is a dead letter again.
    eventually(lambda: len(record(browser, call_id).get("history", [])) > len(first["history"]))
    eventually(lambda: record(browser, call_id)["state"] == "dead")

    page.click("button:has-text('Refresh')")
    row.wait_for()
    page.click("#purge")
    page.click("#purge-confirm")
    page.wait_for_selector("text=No dead letters.")
    assert browser.api("GET", "/system/dead-letters").json() == []
    browser.shot(page, "dead-letters-purged")


def test_logs_follow_the_queue_worker_the_gateway_and_a_function(browser: Browser) -> None:
    env_from_store(browser)
    page = browser.open("logs?name=queue-worker")
    page.wait_for_selector("pre.log .log-line")
    assert page.locator(".stream-state").inner_text() == "following…"
    browser.shot(page, "logs")

    page.select_option("select[name=source]", "gateway")
    page.wait_for_selector("pre.log .log-line")

    page.select_option("select[name=source]", "env")
    lines = page.locator("pre.log .log-line")
    # Followed: once the stream has given its existing lines, a call's log lines
    # written after it opened still arrive.
    page.wait_for_selector(".stream-state:has-text('following')")
    before = settled_count(page, lines)
    answer = httpx.post(f"{browser.platform.url}/function/env", timeout=30)
    assert answer.status_code == 200
    eventually(lambda: lines.count() > before, timeout=30)
    page.click("button:has-text('Stop')")
    page.wait_for_selector(".stream-state:has-text('stopped')")


def test_the_request_bin_view(browser: Browser) -> None:
    browser.api("DELETE", "/system/functions", json={"functionName": "request-bin"})
    page = browser.open("bin")
    page.wait_for_selector("#no-bin:has-text('No request bin deployed')")
    browser.shot(page, "request-bin-none")

    # A stand-in answering as the request-bin store function does.
    records = (
        '[{"method":"POST","path":"/hook","query":"a=1","headers":{"Content-Type":"text/plain"},'
        '"body":"hello-bin","time":"2026-12-02T13:00:00Z"}]'
    )
    deployed(
        browser,
        {
            "service": "request-bin",
            "image": "ghcr.io/openfaas/alpine:latest",
            "envProcess": f"printf {records}",
        },
    )
    try:
        row = page.locator("tr.bin-request")
        row.wait_for()
        assert "/hook?a=1" in row.inner_text()
        assert "hello-bin" in row.inner_text()
        browser.shot(page, "request-bin")
    finally:
        browser.api("DELETE", "/system/functions", json={"functionName": "request-bin"})


def test_the_chart_draws_the_invocation_rate(browser: Browser) -> None:
    env_from_store(browser)
    page = browser.open("functions")
    page.wait_for_selector("table.functions tr[data-function=env]")

    def busy() -> bool:
        for _ in range(5):
            httpx.post(f"{browser.platform.url}/function/env", timeout=30)
        rate = page.locator("tr[data-function=env] td.rate").inner_text()
        return rate not in ("0", "—")

    eventually(busy, timeout=60, interval=0.2)
    assert page.locator("svg.chart path.series").count() >= 1
    browser.shot(page, "chart")
