"""Issue 20, item 13: nothing leaves the machine. A real Chromium walks every page of the real server and
every request its pages make (the tab icon's too) is recorded: any that is not to the loopback address
fails the test. The tab icon each page sets is checked as well. All the browser's traffic that is not to
the loopback address goes to a proxy of the test's own that refuses it, so nothing reaches another
machine while the test runs (Chromium's own update and account checks end there too: they are the
browser's, not the app's, and made by no page)."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlparse

import pytest

from test_e2e import CHROMIUM_ARGS, PAGE_S, VIEWPORT, find_chromium, server, wait_until_idle  # noqa: F401
from ui import app_ui

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers every request 403 unread."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            with client:
                client.settimeout(5)
                try:
                    client.recv(4096)
                    client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_a_walk_through_every_page_requests_nothing_but_the_app(server):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium at /usr/bin/chromium or on PATH (install Debian's `chromium`, as .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    proxy = RefusingProxy()
    requested, icons = [], {}
    try:
        with sync_api.sync_playwright() as playwright:
            # Loopback traffic bypasses the proxy: the app is reached directly, nothing else is.
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                                 proxy={"server": f"http://127.0.0.1:{proxy.port}",
                                                        "bypass": "127.0.0.1,localhost,[::1]"})
            try:
                context = browser.new_context(viewport=VIEWPORT)
                context.set_default_timeout(PAGE_S * 1000)
                context.on("request", lambda request: requested.append(request.url))
                page = context.new_page()
                page.goto(server["url"])
                wait_until_idle(page)
                for entry in [*app_ui.MENU[1:], app_ui.MENU[0]]:  # home last: the walk starts there
                    page.get_by_test_id("stSidebar").get_by_role("link", name=entry.title, exact=True).click()
                    page.wait_for_timeout(1000)  # the click's script run has started
                    wait_until_idle(page)
                    page.wait_for_timeout(1500)  # the tab icon is set after the page runs
                    icons[entry.title] = page.evaluate(
                        "() => [...document.querySelectorAll('link[rel~=\"icon\"]')].map(l => l.href)")
                context.close()
            finally:
                browser.close()
    finally:
        proxy.close()
    outside = [url for url in requested
               if urlparse(url).scheme not in ("data", "blob") and urlparse(url).hostname not in LOOPBACK]
    assert outside == [], outside
    for title, hrefs in icons.items():
        assert hrefs, title
        for href in hrefs:
            assert urlparse(href).scheme in ("data", "blob") or urlparse(href).hostname in LOOPBACK, (title, href)
