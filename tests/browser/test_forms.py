"""Forms work for people who use a keyboard or a screen reader.

- every form control has an accessible name, as Chromium computes it;
- the element that has keyboard focus is visibly marked;
- the request form can be filled in and sent with Tab, typing, arrow keys and Enter.
"""

import pytest
from playwright.sync_api import Page, expect

from containers.models import ContainerRequest, Template
from tests.browser.conftest import CONTAINER_PASSWORD
from tests.browser.pages import assert_controls_named, check_page, choose_language, sign_in, t
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

MAX_TABS = 60

# Whether the focused element is marked: an outline or a box shadow.
FOCUS_STYLE_JS = """
() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== "none";
  const label = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
    + " " + (element.textContent || element.name || "").trim().slice(0, 30);
  return { label, marked: outline || shadow, isBody: element === document.body };
}
"""


def focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.tagName.toLowerCase()")


def test_form_controls_have_names(page, language, member, admin_user, make_request, broker):
    make_request(name="bob-nlp", username="bob")
    page.goto("/accounts/login/")
    choose_language(page, language)
    pages = ["/accounts/login/", "/accounts/signup/"]
    for url in pages:
        page.goto(url)
        assert_controls_named(page)

    sign_in(page, member.username, PASSWORD, language, switch=False)
    for url in ["/requests/new/", "/accounts/profile/", "/accounts/password/"]:
        page.goto(url)
        check_page(page, language)
        assert_controls_named(page)
    page.get_by_role("button", name=t("Sign out", language)).click()

    sign_in(page, admin_user.username, PASSWORD, language, switch=False)
    for url in ["/manage/requests/", "/manage/containers/"]:
        page.goto(url)
        check_page(page, language)
        assert_controls_named(page)


def test_focus_is_visible(page, language, member, lab):
    sign_in(page, member.username, PASSWORD, language)
    page.goto("/requests/new/")

    seen = []
    unmarked = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_STYLE_JS)
        if focus["isBody"] or (seen and focus["label"] == seen[0]):
            break
        seen.append(focus["label"])
        if not focus["marked"]:
            unmarked.append(focus["label"])

    assert len(seen) > 10, f"Tab reached only {seen}"
    assert unmarked == [], f"focused without a visible mark: {unmarked}"


def test_request_form_by_keyboard(page, language, member, lab):
    other = Template.objects.create(name="Ubuntu 22.04", host=lab.host, source="template-ubuntu", snapshot="gpu")
    sign_in(page, member.username, PASSWORD, language)
    page.goto("/requests/new/")
    check_page(page, language)

    for _ in range(MAX_TABS):
        if focused_id(page) == "id_name":
            break
        page.keyboard.press("Tab")
    assert focused_id(page) == "id_name"
    page.keyboard.type("alice-keys")
    page.keyboard.press("Tab")
    assert focused_id(page) == "id_template"
    expect(page.locator("#id_template")).to_have_value(str(lab.pk))
    page.keyboard.press("ArrowDown")
    expect(page.locator("#id_template")).to_have_value(str(other.pk))
    page.keyboard.press("Tab")
    assert focused_id(page) == "id_reason"
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Tab")
    assert focused_id(page) == "id_username"
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    assert focused_id(page) == "id_password"
    page.keyboard.type(CONTAINER_PASSWORD)
    page.keyboard.press("Tab")
    assert focused_id(page) == "id_password_confirm"
    page.keyboard.type(CONTAINER_PASSWORD)
    page.keyboard.press("Tab")
    assert focused_id(page) == "id_ssh_keys"
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text(t("Send request", language))
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text(
        t("Your request has been sent. An administrator will look at it soon.", language)
    )
    check_page(page, language)
    request = ContainerRequest.objects.get(name="alice-keys")
    assert request.template == other
    assert request.username == "alice"
    assert request.reason == "Typed without a mouse."
    assert request.password_hash
