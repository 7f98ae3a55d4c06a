"""The main pages at a phone's width (375 px) and a desktop's (1440 px), in both languages.

On every page: no sideways scrolling, the main actions visible and inside
the window once scrolled to, and no text of the other language. A
full-page screenshot of each goes to test-artifacts/screenshots/.
"""

from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from notifications.models import EmailNotification
from tests.browser.conftest import DESKTOP_WIDTH, OTHER_BROWSER_LOCALE, PHONE_WIDTH
from tests.browser.pages import (
    assert_fits_width,
    assert_reachable,
    check_page,
    choose_language,
    save_screenshot,
    sign_in,
    t,
)
from tests.browser.states import make_failed_job, make_ready_container
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@dataclass
class LabState:
    ready_request_pk: int
    failed_job_pk: int
    failed_container_pk: int
    subnet_pk: int


@pytest.fixture
def lab_state(make_request, member, other_member, admin_user, gpu_host, broker) -> LabState:
    """A member with a ready container and a failed one, and another member's pending request."""
    ready = make_ready_container(make_request(name="alice-gpu"), admin_user)
    failed = make_failed_job(make_request(name="alice-cuda"), admin_user)
    make_request(name="bob-nlp", username="bob", user=other_member, reason="Translating lecture notes.")
    # The approvals queued e-mails; one of them failed for good.
    EmailNotification.objects.filter(pk=EmailNotification.objects.order_by("pk").values("pk")[:1]).update(
        status=EmailNotification.Status.FAILED,
        attempts=5,
        last_error="SMTPRecipientsRefused: {'alice@example.test': (550, b'5.1.1 Mailbox unavailable')}",
    )
    return LabState(ready.request_id, failed.pk, failed.container_id, ready.address.subnet_id)


def check_layout(page: Page, language: str, width: int, name: str, *actions: Locator) -> None:
    check_page(page, language)
    assert_fits_width(page)
    for action in actions:
        assert_reachable(page, action)
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, f"{language}-{width}-{name}")


def button(page: Page, label: str, language: str) -> Locator:
    return page.get_by_role("button", name=t(label, language), exact=True)


def main_link(page: Page, label: str, language: str) -> Locator:
    return page.get_by_role("main").get_by_role("link", name=t(label, language), exact=True).first


@pytest.mark.parametrize("width", [PHONE_WIDTH, DESKTOP_WIDTH])
def test_pages_fit_window(new_page, language, width, member, admin_user, lab_state):
    page = new_page(locale=OTHER_BROWSER_LOCALE[language], width=width)
    page.goto("/accounts/login/")
    choose_language(page, language)
    check_layout(page, language, width, "login", button(page, "Sign in", language))
    page.goto("/accounts/signup/")
    check_layout(page, language, width, "signup", button(page, "Create account", language))

    sign_in(page, member.username, PASSWORD, language)
    check_layout(
        page,
        language,
        width,
        "dashboard",
        main_link(page, "Request a container", language),
        button(page, "Copy command", language),
    )
    page.goto("/requests/new/")
    check_layout(page, language, width, "request-form", button(page, "Send request", language))
    page.goto(f"/requests/{lab_state.ready_request_pk}/")
    check_layout(page, language, width, "request-ready", button(page, "Copy command", language))
    page.goto("/gpus/")
    expect(page.locator("tr[data-gpu]")).to_have_count(4)
    check_layout(page, language, width, "gpus", page.get_by_role("link", name="zhangsan").first)
    page.get_by_role("link", name="zhangsan").first.click()
    expect(page.locator("figure[data-chart] svg").first).to_be_visible()
    check_layout(page, language, width, "gpu-container", main_link(page, "All GPUs", language))
    page.goto("/accounts/profile/")
    check_layout(page, language, width, "profile", button(page, "Save", language))
    button(page, "Sign out", language).click()

    sign_in(page, admin_user.username, PASSWORD, language, switch=False)
    page.goto("/manage/requests/")
    check_layout(page, language, width, "pending", button(page, "Approve", language), button(page, "Reject", language))
    page.goto(f"/manage/jobs/{lab_state.failed_job_pk}/")
    check_layout(page, language, width, "job-failed", button(page, "Retry from the failed step", language))
    page.goto("/manage/containers/")
    check_layout(page, language, width, "containers", button(page, "Show", language))
    page.goto(f"/manage/subnets/{lab_state.subnet_pk}/")
    check_layout(page, language, width, "subnet", page.get_by_role("link", name="alice-gpu"))
    page.goto("/gpus/")
    check_layout(page, language, width, "gpus-admin", page.get_by_text(t("Processes on these GPUs", language)))
    page.goto("/gpus/accounting/")
    check_layout(page, language, width, "accounting", button(page, "Show", language))
    page.goto(f"/manage/containers/{lab_state.failed_container_pk}/abandon/confirm/")
    check_layout(page, language, width, "abandon", button(page, "Abandon and remove the container", language))
    page.goto("/manage/notifications/failures/")
    check_layout(page, language, width, "email-failures", button(page, "Send again", language))
