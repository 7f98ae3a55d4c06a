"""The browser tests' own checks catch what they are meant to catch.

Each test breaks a real page on purpose (injects English text into a
Chinese page, an unlabelled input, a wide element, a console error and a
request to another origin) and expects the check to report it.
"""

import pytest

from tests.browser.catalog import CATALOG, parse_po
from tests.browser.pages import assert_controls_named, assert_fits_width, check_page, choose_language

pytestmark = pytest.mark.browser


def add_element(page, html: str) -> None:
    page.evaluate(
        "html => document.querySelector('main').insertAdjacentHTML('beforeend', html)",
        html,
    )


def untranslated_msgid() -> str:
    return next(entry.msgid for entry in parse_po(CATALOG.read_text()) if entry.msgid.startswith("Request a "))


def test_language_check_finds_english_on_chinese_page(page):
    page.goto("/accounts/login/")
    choose_language(page, "zh-hans")
    check_page(page, "zh-hans")

    add_element(page, f"<p>{untranslated_msgid()}</p>")

    with pytest.raises(AssertionError, match="catalog text of the other language"):
        check_page(page, "zh-hans")


def test_language_check_finds_chinese_on_english_page(page):
    page.goto("/accounts/login/")
    check_page(page, "en")

    add_element(page, "<p>退出登录</p>")

    with pytest.raises(AssertionError, match="退出登录"):
        check_page(page, "en")


def test_language_check_allows_text_marked_with_its_language(page):
    page.goto("/accounts/login/")

    add_element(page, '<p lang="zh-hans">退出登录</p>')

    check_page(page, "en")


def test_label_check_finds_unlabelled_input(page):
    page.goto("/accounts/login/")
    assert_controls_named(page)

    add_element(page, '<input type="text" name="nickname">')

    with pytest.raises(AssertionError, match="without a name"):
        assert_controls_named(page)


def test_width_check_finds_wide_element(new_page):
    page = new_page(width=375)
    page.goto("/accounts/login/")
    assert_fits_width(page)

    add_element(page, '<div style="width: 600px">wide</div>')

    with pytest.raises(AssertionError, match="px wide"):
        assert_fits_width(page)


def test_watch_reports_console_error_and_foreign_request(page, request):
    page.goto("/accounts/login/")
    page.evaluate("console.error('broken on purpose')")
    # Another origin on loopback; the route aborts it before it is sent.
    with page.expect_event("requestfailed"):
        page.evaluate("fetch('http://127.0.0.2:9/cdn.js').catch(() => null)")

    watch = request.node.browser_pages[0]
    report = watch.report()
    # This test expects the problems, so they must not fail it afterwards.
    request.node.browser_pages.clear()

    assert "console error: broken on purpose" in report
    assert "request outside" in report
    assert "http://127.0.0.2:9/cdn.js" in report
