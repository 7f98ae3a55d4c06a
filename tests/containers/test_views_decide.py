"""Administrators approve and reject requests from the pending list."""

import pytest
from django.urls import reverse

from containers.models import Address, AuditEntry, Container, ContainerRequest, ProvisioningJob

pytestmark = pytest.mark.django_db


def approve_url(request) -> str:
    return reverse("containers:approve_request", args=[request.pk])


def reject_url(request) -> str:
    return reverse("containers:reject_request", args=[request.pk])


def assert_still_pending(request) -> None:
    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.PENDING
    assert not Container.objects.exists()
    assert not Address.objects.exists()
    assert not AuditEntry.objects.filter(action__in=["approve", "reject"]).exists()


def test_approve_reserves_lowest_free_address(staff_client, make_request, admin_user, subnet):
    request = make_request()

    response = staff_client.post(approve_url(request))

    request.refresh_from_db()
    container = Container.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("containers:pending_requests")
    assert request.status == ContainerRequest.Status.APPROVED
    assert request.decided_by == admin_user
    assert container.address.ip == subnet.range_start
    assert container.jobs.get().status == ProvisioningJob.Status.QUEUED


def test_approve_with_chosen_address(staff_client, make_request):
    request = make_request()

    staff_client.post(approve_url(request), {"ip": "198.18.0.170"})

    assert Container.objects.get().address.ip == "198.18.0.170"


def test_approve_reports_success_message(staff_client, make_request):
    request = make_request()

    response = staff_client.post(approve_url(request), {"ip": "198.18.0.170"}, follow=True)

    assert "Approved alice-box for alice at 198.18.0.170." in response.content.decode()


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("198.18.0.1", "198.18.0.1 is the subnet&#x27;s gateway."),
        ("10.0.0.5", "10.0.0.5 is outside subnet 198.18.0.0/24."),
        ("198.18.0.20", "198.18.0.20 is outside the range 198.18.0.160 to 198.18.0.199"),
        ("not-an-ip", "Enter a valid IPv4 address."),
    ],
)
def test_approve_rejects_unusable_address(staff_client, make_request, ip, message):
    request = make_request()

    response = staff_client.post(approve_url(request), {"ip": ip}, follow=True)

    assert message in response.content.decode()
    assert_still_pending(request)


def test_approve_twice_reports_not_pending(staff_client, make_request):
    request = make_request()
    staff_client.post(approve_url(request))

    response = staff_client.post(approve_url(request), follow=True)

    assert "This request is no longer pending, so it cannot be approved." in response.content.decode()
    assert Container.objects.count() == 1
    assert Address.objects.count() == 1


def test_approve_get_refused(staff_client, make_request):
    request = make_request()

    response = staff_client.get(approve_url(request))

    assert response.status_code == 405
    assert_still_pending(request)


def test_approve_by_member_forbidden(member_client, make_request):
    request = make_request()

    response = member_client.post(approve_url(request))

    assert response.status_code == 403
    assert_still_pending(request)


def test_approve_anonymous_redirected(client, make_request):
    request = make_request()

    response = client.post(approve_url(request))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert_still_pending(request)


def test_approve_missing_request_404(staff_client):
    response = staff_client.post(reverse("containers:approve_request", args=[999_999]))

    assert response.status_code == 404


def test_reject_saves_reason(staff_client, make_request, admin_user):
    request = make_request()

    response = staff_client.post(reject_url(request), {"reason": "Use the CPU cluster for this work."})

    request.refresh_from_db()
    assert response.status_code == 302
    assert request.status == ContainerRequest.Status.REJECTED
    assert request.rejection_reason == "Use the CPU cluster for this work."
    assert request.decided_by == admin_user
    assert request.password_hash == ""
    assert not Container.objects.exists()


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Give a reason, so the member knows what to change."),
        ("x" * 1001, "Ensure this value has at most 1000 characters (it has 1001)."),
        ("Nope\x1b[2J", "Remove the control characters from this field."),
    ],
)
def test_reject_bad_reason_changes_nothing(staff_client, make_request, reason, message):
    request = make_request()

    response = staff_client.post(reject_url(request), {"reason": reason}, follow=True)

    assert message in response.content.decode()
    assert_still_pending(request)


def test_reject_get_refused(staff_client, make_request):
    request = make_request()

    response = staff_client.get(reject_url(request))

    assert response.status_code == 405
    assert_still_pending(request)


def test_reject_by_member_forbidden(member_client, make_request):
    request = make_request()

    response = member_client.post(reject_url(request), {"reason": "No."})

    assert response.status_code == 403
    assert_still_pending(request)


def test_reject_anonymous_redirected(client, make_request):
    request = make_request()

    response = client.post(reject_url(request), {"reason": "No."})

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert_still_pending(request)


def test_reject_after_approval_reports_not_pending(staff_client, make_request):
    request = make_request()
    staff_client.post(approve_url(request))

    response = staff_client.post(reject_url(request), {"reason": "Too late."}, follow=True)

    request.refresh_from_db()
    assert "This request is no longer pending, so it cannot be rejected." in response.content.decode()
    assert request.status == ContainerRequest.Status.APPROVED
