"""A member sends a request; an administrator approves one and rejects another from the pending list."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from playwright.sync_api import expect

from containers.forms import ContainerRequestForm
from containers.models import Container, ContainerRequest, ProvisioningJob
from tests.browser.conftest import CONTAINER_PASSWORD, OTHER_BROWSER_LOCALE
from tests.browser.pages import check_page, field, form_field, open_nav, save_screenshot, sign_in, t
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

REASONS = {
    "en": "Please use the shared container for jobs shorter than a day.",
    "zh-hans": "不到一天的任务请使用共享容器。",
}


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{blob} alice@laptop"


def queued_tasks(broker) -> list[tuple[str, list]]:
    """Return (task name, positional arguments) of every message waiting in the Celery queue."""
    tasks = []
    for raw in broker.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks


def test_member_sends_request_and_sees_it_pending(page, language, member, lab):
    sign_in(page, member.username, PASSWORD, language)
    page.get_by_role("main").get_by_role("link", name=t("Request a container", language)).first.click()
    expect(page.get_by_role("heading", level=1, name=t("Request a container", language))).to_be_visible()
    check_page(page, language)

    form = ContainerRequestForm(member=member)
    expect(form_field(page, form, "template", language)).to_have_value(str(lab.pk))
    form_field(page, form, "name", language).fill("alice-gpu")
    form_field(page, form, "reason", language).fill("Fine-tuning a speech model for my thesis.")
    form_field(page, form, "username", language).fill("alice")
    form_field(page, form, "password", language).fill(CONTAINER_PASSWORD)
    form_field(page, form, "password_confirm", language).fill(CONTAINER_PASSWORD)
    form_field(page, form, "ssh_keys", language).fill(public_key())
    save_screenshot(page, f"{language}-request-form")
    page.get_by_role("button", name=t("Send request", language), exact=True).click()

    expect(page.get_by_role("status")).to_contain_text(
        t("Your request has been sent. An administrator will look at it soon.", language)
    )
    state = page.locator(".request-state")
    expect(state.locator(".badge")).to_have_text(t("Pending", language))
    expect(state).to_contain_text(
        t("Your request is waiting for an administrator. This page updates by itself when it is decided.", language)
    )
    check_page(page, language)
    request = ContainerRequest.objects.get(name="alice-gpu")
    assert request.member == member
    assert request.status == ContainerRequest.Status.PENDING
    assert request.password_hash.startswith(("$6$", "$y$"))
    assert CONTAINER_PASSWORD not in request.password_hash

    page.get_by_role("link", name=t("Back to your containers", language)).click()
    row = page.get_by_role("row").filter(has_text="alice-gpu")
    expect(row.locator(".badge")).to_have_text(t("Pending", language))
    check_page(page, language)


def test_request_form_explains_bad_input(page, language, member, lab):
    sign_in(page, member.username, PASSWORD, language)
    open_nav(page, "Request a container", language)
    form = ContainerRequestForm(member=member)
    form_field(page, form, "name", language).fill("-bad name")
    form_field(page, form, "reason", language).fill("Testing.")
    form_field(page, form, "username", language).fill("root")
    form_field(page, form, "password", language).fill(CONTAINER_PASSWORD)
    form_field(page, form, "password_confirm", language).fill(CONTAINER_PASSWORD + "x")

    page.get_by_role("button", name=t("Send request", language), exact=True).click()

    expect(page.get_by_role("alert").first).to_have_text(
        t("Some fields need your attention. Nothing has been saved yet.", language)
    )
    main = page.get_by_role("main")
    expect(main).to_contain_text(
        t("Use 1 to 63 letters, digits and hyphens, starting with a letter and not ending with a hyphen.", language)
    )
    expect(main).to_contain_text(
        t("%(username)s is a system account name; choose another username.", language) % {"username": "root"}
    )
    expect(main).to_contain_text(t("The two passwords do not match.", language))
    expect(form_field(page, form, "name", language)).to_have_value("-bad name")
    expect(form_field(page, form, "password", language)).to_have_value("")
    check_page(page, language)
    assert not ContainerRequest.objects.exists()


def test_admin_approves_from_pending_list(page, language, admin_user, make_request, broker):
    request = make_request()

    sign_in(page, admin_user.username, PASSWORD, language)
    page.get_by_role("link", name=t("Review pending requests", language)).click()
    expect(page.get_by_role("heading", level=1, name=t("Pending requests", language))).to_be_visible()
    check_page(page, language)
    row = page.get_by_role("row").filter(has_text="alice-gpu")
    expect(row).to_contain_text("Fine-tuning a speech model for my thesis.")
    first_free = ContainerRequest.objects.get(pk=request.pk).template.host.subnet.range_start
    expect(row.get_by_role("combobox", name=t("IP address", language))).to_contain_text(first_free)
    save_screenshot(page, f"{language}-pending-requests")
    row.get_by_role("button", name=t("Approve", language), exact=True).click()

    container = Container.objects.select_related("address").get(request=request)
    approved = t("Approved %(name)s for %(member)s at %(ip)s. The container is being built.", language) % {
        "name": "alice-gpu",
        "member": "alice",
        "ip": container.address.ip,
    }
    expect(page.get_by_role("status")).to_have_text(approved)
    expect(page.get_by_role("row").filter(has_text="alice-gpu")).to_have_count(0)
    expect(page.get_by_role("main")).to_contain_text(
        t("No request is waiting for a decision. New requests appear here.", language)
    )
    check_page(page, language)
    request.refresh_from_db()
    job = container.jobs.get()
    assert request.status == ContainerRequest.Status.APPROVED
    assert request.decided_by == admin_user
    assert container.status == Container.Status.PROVISIONING
    assert container.address.ip == first_free
    assert job.status == ProvisioningJob.Status.QUEUED
    assert ("containers.tasks.provision_container", [job.pk]) in queued_tasks(broker)


def test_admin_approves_chosen_address(page, language, admin_user, make_request, broker):
    request = make_request()
    subnet = request.template.host.subnet
    chosen = subnet.allocatable()[3]

    sign_in(page, admin_user.username, PASSWORD, language)
    open_nav(page, "Pending requests", language)
    row = page.get_by_role("row").filter(has_text="alice-gpu")
    row.get_by_role("combobox", name=t("IP address", language)).select_option(str(chosen))
    row.get_by_role("button", name=t("Approve", language), exact=True).click()

    expect(page.get_by_role("status")).to_contain_text(str(chosen))
    check_page(page, language)
    assert Container.objects.get(request=request).address.ip == str(chosen)


def test_member_reads_rejection_reason(new_page, language, admin_user, member, make_request):
    request = make_request()
    admin = new_page(locale=OTHER_BROWSER_LOCALE[language])
    sign_in(admin, admin_user.username, PASSWORD, language)
    open_nav(admin, "Pending requests", language)
    row = admin.get_by_role("row").filter(has_text="alice-gpu")

    # The reason is required: the browser keeps an empty one from being sent.
    reason = field(row, "Reason for rejecting", language)
    row.get_by_role("button", name=t("Reject", language), exact=True).click()
    assert reason.evaluate("element => element.validity.valueMissing")
    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.PENDING

    reason.fill(REASONS[language])
    row.get_by_role("button", name=t("Reject", language), exact=True).click()
    rejected = t("Rejected the request for %(name)s by %(member)s.", language) % {
        "name": "alice-gpu",
        "member": "alice",
    }
    expect(admin.get_by_role("status")).to_have_text(rejected)
    check_page(admin, language)
    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.REJECTED
    assert request.rejection_reason == REASONS[language]

    page = new_page(locale=OTHER_BROWSER_LOCALE[language])
    sign_in(page, member.username, PASSWORD, language)
    row = page.get_by_role("row").filter(has_text="alice-gpu")
    expect(row.locator(".badge")).to_have_text(t("Rejected", language))
    row.get_by_role("link", name="alice-gpu").click()
    state = page.locator(".request-state")
    expect(state).to_contain_text(t("An administrator rejected this request with this reason:", language))
    expect(state.locator("blockquote")).to_have_text(REASONS[language])
    expect(
        state.get_by_role("link", name=t("Send a new request that takes the reason into account", language))
    ).to_be_visible()
    check_page(page, language)
    save_screenshot(page, f"{language}-request-rejected")
