"""Fixtures of the browser tests: one local 2-instance cluster (tests/conftest.py
builds it from cluster_options) and one Chromium per test module, browser
contexts that fail the test on a script error, a CSP report or a page file
not served, and the two ways in (nginx, one instance)."""

import json
import os
import time

import pytest
import requests
from browser_kit import CHROMIUM, CHROMIUM_ARGS, CLUSTER_ENV, DESKTOP, TIMEOUT_MS
from playwright.sync_api import sync_playwright


@pytest.fixture(scope="module")
def cluster_options():
    """The browser tests' cluster: two instances, cheap logins and sends."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make system-deps installs it)")
    return {"instances": 2, "extra_env": CLUSTER_ENV}


@pytest.fixture(autouse=True)
def instances_up(all_instances_up):
    """Every test starts with both instances alive, even after a failed outage
    test (the module's cluster and all_instances_up come from tests/conftest.py)."""


@pytest.fixture(scope="module")
def browser(cluster):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def _instance_behind_nginx(url, timeout=10.0):
    """The instance nginx sends this client to. After a test that made both
    instances answer 503 (an outage), nginx keeps them out of rotation for its
    `fail_timeout` (2 s) and answers 503 itself: wait that out."""
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(url + "/healthz", timeout=5)
        if status.status_code == 200 or time.monotonic() > deadline:
            assert status.status_code == 200, (status.status_code, status.text[:200])
            return status.json()["instance"]
        time.sleep(0.25)


@pytest.fixture
def routes(cluster):
    """Where the browsers go: `nginx` (lands on instance X) and `direct` (instance Y)."""
    nginx_instance = _instance_behind_nginx(cluster.url)
    other = next(i for i in cluster.instances if i.id != nginx_instance)
    return {
        "nginx": cluster.url,
        "nginx_instance": nginx_instance,
        "direct": other.url,
        "direct_instance": other.id,
        "nginx_index": next(i.index for i in cluster.instances if i.id == nginx_instance),
    }


@pytest.fixture
def contexts(browser):
    """Makes browser contexts (one per user); closes them after the test.

    Any uncaught script error, anything the page's Content Security Policy
    blocked, or a page file (module, style) that the server did not serve
    fails the test.
    """
    made, problems = [], []

    def on_console(message):
        if "Content Security Policy" in message.text:
            problems.append(message.text)

    def on_response(response):
        if "/static/" in response.url and response.status >= 400:
            problems.append(f"{response.url}: {response.status}")

    def make(viewport=DESKTOP, token=None):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", on_console)
        context.on("weberror", lambda error: problems.append(str(error.error)))
        context.on("response", on_response)
        if token:
            # Runs in every document, about:blank too (which has no storage).
            context.add_init_script(
                "if (location.protocol.startsWith('http')) "
                f"localStorage.setItem('chat.token', {json.dumps(token)});"
            )
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert problems == []
