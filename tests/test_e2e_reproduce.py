"""The reproduce study end to end in a real headless Chromium: one click on Home's card, one on Start, and the
table, the curves, the matrices, the six claims and an offline write-up appear.

The server, the browser and their tiny demo set are test_e2e's (full schedules on 300 training images: about
two minutes on two cores). Skips without Chromium, playwright, or the study library (cinic/study).
"""

from __future__ import annotations

import re

import pytest

from test_e2e import (assert_charts_drawn, assert_no_errors, browser, charts, page, screenshot,  # noqa: F401
                      server, wait_until_idle)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
STUDY_S = 600  # 15 trainings of the report's schedules on the tiny set, Ray's start included


def test_one_click_on_home_then_start_runs_the_study_to_its_table_claims_and_offline_writeup(page, server,
                                                                                             tmp_path):
    from playwright.sync_api import expect

    page.goto(server["url"])
    page.get_by_test_id("stHeading").filter(has_text="CINIC-10 Explorer").wait_for()
    wait_until_idle(page)
    page.get_by_role("button", name="Reproduce the report").click()
    page.get_by_test_id("stHeading").filter(has_text="Reproduce the report").first.wait_for()
    wait_until_idle(page)
    page.get_by_text(re.compile(r"^\d+ trainings")).wait_for()  # the plan, before anything runs
    assert_no_errors(page)
    screenshot(page, "reproduce-01-plan")
    page.get_by_role("button", name="Start the study").click()
    page.get_by_role("button", name="Stop the study").wait_for()
    page.get_by_text("Every trial has finished").wait_for(timeout=STUDY_S * 1000)
    wait_until_idle(page)
    assert_no_errors(page)
    expect(page.get_by_text("is not the report's: compare the ranking and the gaps")).to_have_count(1)
    expect(page.get_by_text(re.compile(r"^[1-6]\. "))).to_have_count(6)  # the six claims, each with a verdict
    expect(charts(page)).to_have_count(3)  # the curves, this study's matrix, the report's
    assert_charts_drawn(page)
    screenshot(page, "reproduce-02-result")

    with page.expect_download() as download:
        page.get_by_role("button", name="The write-up (HTML)").click()
    writeup = tmp_path / "writeup.html"
    download.value.save_as(writeup)
    offline = page.context.browser.new_context(offline=True)
    try:
        reader = offline.new_page()
        asked = []
        reader.on("request", lambda request: asked.append(request.url))
        reader.goto(writeup.as_uri())
        assert reader.locator("svg").count() >= 3  # its charts are in the file
        assert [url for url in asked if not url.startswith("file://")] == [], "the write-up reached out"
    finally:
        offline.close()
