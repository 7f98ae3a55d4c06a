"""Steps and checks that the browser tests share: signing in, the language switch, page checks."""

import re
from pathlib import Path

from django.conf import settings
from django.utils import translation
from playwright.sync_api import Locator, Page, expect

from tests.browser.catalog import wrong_language_texts

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"

# Text a person reads on the page: visible text nodes, plus the attributes
# that browsers and screen readers present as text. Elements marked with
# another `lang` than the page's (the language switch's "English" on a
# Chinese page) are meant to be in that language and are left out.
VISIBLE_TEXTS_JS = """
() => {
  const pageLanguage = document.documentElement.lang.toLowerCase();
  const inOtherLanguage = (element) => {
    const marked = element.closest("[lang]");
    return marked !== null && marked.lang.toLowerCase() !== pageLanguage;
  };
  const shown = (element) => {
    const select = element.closest("select");
    return (select || element).checkVisibility({ visibilityProperty: true });
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!element || element.closest("script, style, template, noscript")) continue;
    if (inOtherLanguage(element) || !shown(element)) continue;
    texts.push(node.nodeValue);
  }
  for (const element of document.body.querySelectorAll("[aria-label], [placeholder], [title], [alt]")) {
    if (inOtherLanguage(element) || !shown(element)) continue;
    for (const name of ["aria-label", "placeholder", "title", "alt"]) {
      const value = element.getAttribute(name);
      if (value) texts.push(value);
    }
  }
  return texts;
}
"""

# Roles of form controls in Playwright's ARIA snapshot; each must have a name.
CONTROL_ROLES = {"textbox", "combobox", "listbox", "checkbox", "radio", "spinbutton", "searchbox", "slider", "switch"}
SNAPSHOT_LINE_RE = re.compile(r'^\s*- (?P<role>[a-z]+)(?: "(?P<name>(?:[^"\\]|\\.)*)")?')
# Elements that stick out past the right edge of the window, for the failure
# message. Content of an ancestor that clips or scrolls sideways (a wide
# table in its scrolling wrapper) does not widen the page, so it is left out.
OVERFLOWING_JS = """
() => {
  const clipped = (element) => {
    for (let parent = element.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
      if (getComputedStyle(parent).overflowX !== "visible") return true;
    }
    return false;
  };
  return Array.from(document.body.querySelectorAll("*"))
    .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5 && !clipped(element))
    .slice(0, 5)
    .map((element) => element.tagName.toLowerCase() + (element.className ? "." + element.className : "")
      + ` "${element.textContent.trim().slice(0, 40)}"`);
}
"""


def t(message: str, language: str) -> str:
    """Return `message` as the portal shows it in `language`, from the compiled catalog."""
    with translation.override(language):
        return translation.gettext(message)


def labelled(page: Page | Locator, label: str) -> Locator:
    """Return the form control whose label is `label`, with or without Django's label suffix (":")."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*[:：]?\s*$"))


def field(page: Page | Locator, label: str, language: str) -> Locator:
    """Return the form control labelled with the message `label` in `language`."""
    return labelled(page, t(label, language))


def form_field(page: Page | Locator, form, name: str, language: str) -> Locator:
    """Return the control of `form`'s field `name`, found by the label the form gives it in `language`."""
    with translation.override(language):
        label = str(form.fields[name].label or "")
    if not label:
        raise ValueError(f"{type(form).__name__}.{name} has no label of its own")
    return labelled(page, label)


def language_name(language: str) -> str:
    """Return the label of the language switch's button: the language's own name."""
    return translation.get_language_info(language)["name_local"]


def choose_language(page: Page, language: str) -> None:
    """Click the page's language switch and wait for the page in that language."""
    page.get_by_role("button", name=language_name(language), exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", language)


def check_page(page: Page, language: str) -> None:
    """Check that the page is in `language` and shows no catalog text of the other language.

    It first waits for the page's load event: after a click, the new page's
    text can be there before its stylesheet, and the checks that follow
    (sizes, visibility) need the styled page.
    """
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("lang", language)
    texts = page.evaluate(VISIBLE_TEXTS_JS)
    wrong = wrong_language_texts(texts, language)
    assert not wrong, f"{page.url} is in {language} but shows catalog text of the other language: {wrong}"


def sign_in(page: Page, username: str, password: str, language: str, switch: bool = True) -> None:
    """Sign in through the login form, first switching to `language` with the page's switch unless told not to."""
    page.goto("/accounts/login/")
    if switch:
        choose_language(page, language)
    check_page(page, language)
    field(page, "Username", language).fill(username)
    field(page, "Password", language).fill(password)
    page.get_by_role("button", name=t("Sign in", language), exact=True).click()
    expect(page.get_by_role("heading", level=1, name=t("My containers", language))).to_be_visible()
    check_page(page, language)


def open_nav(page: Page, label: str, language: str) -> None:
    """Follow a link of the main navigation, as a person would."""
    page.get_by_role("navigation").get_by_role("link", name=t(label, language), exact=True).click()
    check_page(page, language)


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot to test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_fits_width(page: Page) -> None:
    """Check that the page does not scroll sideways at the window's width."""
    scroll_width, window_width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= window_width, (
        f"{page.url} is {scroll_width} px wide in a {window_width} px window; "
        f"sticking out: {page.evaluate(OVERFLOWING_JS)}"
    )


def assert_reachable(page: Page, control: Locator) -> None:
    """Check that the control is visible and, once scrolled to, lies inside the window."""
    expect(control).to_be_visible()
    control.scroll_into_view_if_needed()
    box = control.bounding_box()
    window_width = page.evaluate("window.innerWidth")
    assert box is not None, f"{control} has no box on {page.url}"
    assert box["x"] >= 0, f"{control} starts left of the window on {page.url}: {box}"
    assert box["x"] + box["width"] <= window_width + 0.5, f"{control} ends right of the window on {page.url}: {box}"


def form_controls(page: Page) -> list[tuple[str, str]]:
    """Return (role, accessible name) of every form control in the page's ARIA snapshot."""
    controls = []
    for line in page.locator("body").aria_snapshot().splitlines():
        match = SNAPSHOT_LINE_RE.match(line)
        if match and match["role"] in CONTROL_ROLES:
            controls.append((match["role"], (match["name"] or "").strip()))
    return controls


def assert_controls_named(page: Page) -> None:
    controls = form_controls(page)
    assert controls, f"no form control found on {page.url}"
    unnamed = [role for role, name in controls if not name]
    assert unnamed == [], f"{page.url} has form controls without a name: {unnamed}; all: {controls}"
