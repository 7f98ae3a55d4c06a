"""The whole main job in a browser: request, approval, a real worker building the container in LXD.

It runs in Simplified Chinese only; the other flows cover both languages
with states set up in the database. The member's page is never reloaded:
the test records every state the progress region shows and checks that the
page went from pending through the build steps to the ready view by itself.
"""

import re

import paramiko
import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from containers.forms import ContainerRequestForm
from containers.models import Container, ProvisioningJob
from portal.celery import app as celery_app
from tests.browser.conftest import CONTAINER_PASSWORD
from tests.browser.pages import check_page, form_field, open_nav, save_screenshot, sign_in, t
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.lxd]

LANGUAGE = "zh-hans"
# Upper bound for one provisioning run on a slow machine; the test goes on
# as soon as the page shows the final state.
JOB_DEADLINE_MS = 300_000

# Record the badge and the number of finished steps each time the polled
# region changes, from the moment this runs.
RECORD_STATES_JS = """
() => {
  const region = document.querySelector(".request-region");
  const snapshot = () => {
    const badge = region.querySelector(".request-state .page-header .badge");
    const status = badge ? [...badge.classList].find((name) => name.startsWith("badge-")).slice(6) : "";
    return { status, done: region.querySelectorAll("li.step-done").length };
  };
  window.recordedStates = [snapshot()];
  new MutationObserver(() => {
    const state = snapshot();
    const last = window.recordedStates[window.recordedStates.length - 1];
    if (state.status !== last.status || state.done !== last.done) {
      window.recordedStates.push(state);
    }
  }).observe(region, { childList: true, subtree: true });
}
"""


RECORD_LABELS_JS = """
() => {
  const button = document.querySelector(".request-state button[data-copy-target]");
  window.recordedLabels = [button.textContent];
  new MutationObserver(() => window.recordedLabels.push(button.textContent)).observe(
    button, { childList: true, characterData: true, subtree: true }
  );
}
"""


@pytest.fixture
def worker(broker):
    """A Celery worker in a thread of the test process, consuming the real Redis queue."""
    with start_worker(celery_app, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60):
        yield


def ssh_hostname(user: str, ip: str, password: str) -> str:
    """Log in to the container over SSH with the password and return its hostname."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(ip, username=user, password=password, timeout=20, allow_agent=False, look_for_keys=False)
        _stdin, stdout, _stderr = client.exec_command("hostname", timeout=20)
        return stdout.read().decode().strip()
    finally:
        client.close()


def test_member_watches_container_being_built(new_page, member, admin_user, lab, lxd_host, lxd_cleanup, worker):
    name = lxd_cleanup.new_name("web")
    member_page = new_page(locale="en-US")
    sign_in(member_page, member.username, PASSWORD, LANGUAGE)
    open_nav(member_page, "Request a container", LANGUAGE)
    form = ContainerRequestForm(member=member)
    form_field(member_page, form, "name", LANGUAGE).fill(name)
    form_field(member_page, form, "reason", LANGUAGE).fill("训练语音识别模型。")
    form_field(member_page, form, "username", LANGUAGE).fill("alice")
    form_field(member_page, form, "password", LANGUAGE).fill(CONTAINER_PASSWORD)
    form_field(member_page, form, "password_confirm", LANGUAGE).fill(CONTAINER_PASSWORD)
    member_page.get_by_role("button", name=t("Send request", LANGUAGE), exact=True).click()
    state = member_page.locator(".request-state")
    expect(state.locator(".page-header .badge")).to_have_text(t("Pending", LANGUAGE))
    expect(member_page.locator(".messages")).to_be_visible()
    member_page.evaluate(RECORD_STATES_JS)
    navigations = []
    member_page.on(
        "framenavigated", lambda frame: navigations.append(frame.url) if frame.parent_frame is None else None
    )

    admin_page = new_page(locale="en-US")
    sign_in(admin_page, admin_user.username, PASSWORD, LANGUAGE)
    open_nav(admin_page, "Pending requests", LANGUAGE)
    admin_page.get_by_role("row").filter(has_text=name).get_by_role("button", name=t("Approve", LANGUAGE)).click()
    expect(admin_page.get_by_role("status")).to_contain_text(name)

    final = state.locator(".page-header .badge-ready, .page-header .badge-failed")
    expect(final).to_be_visible(timeout=JOB_DEADLINE_MS)
    container = Container.objects.select_related("address").get(name=name)
    job = container.jobs.get(kind=ProvisioningJob.Kind.PROVISION)
    steps = dict(job.steps.values_list("name", "status"))
    assert container.status == Container.Status.READY, f"{job.status}: {job.last_error}; steps {steps}"

    # The page changed by itself: no navigation, and the recorded states
    # go from pending through the build to ready, with steps only added.
    assert navigations == []
    states = member_page.evaluate("window.recordedStates")
    statuses = [entry["status"] for entry in states]
    assert statuses[0] == "pending", states
    assert "provisioning" in statuses, states
    assert statuses[-1] == "ready", states
    building = [entry["done"] for entry in states if entry["status"] == "provisioning"]
    assert building == sorted(building), states

    ip = container.address.ip
    command = f"ssh alice@{ip}"
    expect(state).to_contain_text(t("IP address", LANGUAGE))
    expect(state.locator("dd.mono").first).to_have_text(ip)
    expect(state.locator("code")).to_have_text(command)
    # "Your request has been sent" would contradict the ready view.
    expect(member_page.locator(".messages")).to_have_count(0)
    copy_button = state.get_by_role("button", name=t("Copy command", LANGUAGE))
    expect(copy_button).to_be_visible()
    # The button says "Copied" for two seconds; record every label it shows.
    member_page.evaluate(RECORD_LABELS_JS)
    copy_button.click()
    member_page.wait_for_function("label => window.recordedLabels.includes(label)", arg=t("Copied", LANGUAGE))
    assert member_page.evaluate("navigator.clipboard.readText()") == command
    check_page(member_page, LANGUAGE)
    save_screenshot(member_page, f"{LANGUAGE}-request-ready")

    # The copied command works: the user logs in with the password from the request.
    user, address = re.fullmatch(r"ssh (\S+)@(\S+)", command).groups()
    assert ssh_hostname(user, address, CONTAINER_PASSWORD) == name
    assert lxd_host.instance_status(name) == "Running"
