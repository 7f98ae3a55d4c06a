"""A failed build as the member sees it, and the administrator's retry from the job page."""

import pytest
from playwright.sync_api import expect

from containers.models import Container, JobStep, ProvisioningJob
from tests.browser.pages import check_page, open_nav, save_screenshot, sign_in, t
from tests.browser.states import START_ERROR, make_failed_job
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def failed_job(make_request, admin_user, broker) -> ProvisioningJob:
    return make_failed_job(make_request(), admin_user)


def test_member_sees_failed_build(page, language, member, failed_job):
    sign_in(page, member.username, PASSWORD, language)
    row = page.get_by_role("row").filter(has_text="alice-gpu")
    expect(row.locator(".badge")).to_have_text(t("Failed", language))
    row.get_by_role("link", name="alice-gpu").click()

    state = page.locator(".request-state")
    expect(state.locator(".page-header .badge")).to_have_text(t("Failed", language))
    stopped = t("Building your container stopped at the step “%(step)s”.", language) % {
        "step": t("Start the container", language)
    }
    expect(state).to_contain_text(stopped)
    expect(state.locator("li.step-done")).to_have_count(2)
    expect(state.locator("li.step-failed")).to_contain_text(t("Start the container", language))
    # The technical error is for administrators only.
    expect(state).not_to_contain_text(START_ERROR)
    expect(page.get_by_role("link", name=t("Open the job log", language))).to_have_count(0)
    check_page(page, language)
    save_screenshot(page, f"{language}-request-failed")


def test_admin_retries_failed_job(page, language, admin_user, failed_job):
    sign_in(page, admin_user.username, PASSWORD, language)
    open_nav(page, "Pending requests", language)
    page.get_by_role("link", name=t("Show failed containers", language)).click()
    expect(page.get_by_role("heading", level=1, name=t("All containers", language))).to_be_visible()
    check_page(page, language)
    row = page.get_by_role("row").filter(has_text="alice-gpu")
    row.get_by_role("link", name=f"{t('Provision', language)} #{failed_job.pk}").click()

    expect(page.locator(".step-error").first).to_have_text(START_ERROR)
    expect(page.get_by_role("main")).to_contain_text("lxc start: timed out")
    expect(page.locator("li.step-failed")).to_contain_text(t("Start the container", language))
    check_page(page, language)
    save_screenshot(page, f"{language}-job-failed")
    page.get_by_role("button", name=t("Retry from the failed step", language), exact=True).click()

    expect(page.get_by_role("status")).to_have_text(
        t("The job has been queued again and resumes at the step that failed.", language)
    )
    expect(page.locator("#job-state-heading + .badge")).to_have_text(t("Queued", language))
    expect(page.get_by_role("button", name=t("Retry from the failed step", language))).to_have_count(0)
    check_page(page, language)
    failed_job.refresh_from_db()
    assert failed_job.status == ProvisioningJob.Status.QUEUED
    assert failed_job.container.status == Container.Status.PROVISIONING
    assert failed_job.steps.get(position=3).status == JobStep.Status.PENDING
