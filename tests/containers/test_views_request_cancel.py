"""Withdrawing a pending request: only its member, only by POST, only while pending."""

import pytest
from django.urls import reverse

from containers.models import AuditEntry, ContainerRequest
from containers.services import approve_request

pytestmark = pytest.mark.django_db


def cancel_url(request) -> str:
    return reverse("containers:request_cancel", args=[request.pk])


def test_member_cancels_own_pending_request(member_client, make_request, member):
    request = make_request()

    response = member_client.post(cancel_url(request))

    request.refresh_from_db()
    assert response.status_code == 302
    assert response.url == reverse("containers:request_detail", args=[request.pk])
    assert request.status == ContainerRequest.Status.CANCELLED
    assert request.password_hash == ""
    assert AuditEntry.objects.filter(action="cancel", request=request, actor=member).exists()


def test_cancel_get_refused(member_client, make_request):
    request = make_request()

    response = member_client.get(cancel_url(request))

    request.refresh_from_db()
    assert response.status_code == 405
    assert request.status == ContainerRequest.Status.PENDING


def test_cancel_anonymous_refused(client, make_request):
    request = make_request()

    response = client.post(cancel_url(request))

    request.refresh_from_db()
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert request.status == ContainerRequest.Status.PENDING


def test_cancel_by_other_member_gets_404(other_member_client, make_request):
    request = make_request()

    response = other_member_client.post(cancel_url(request))

    request.refresh_from_db()
    assert response.status_code == 404
    assert request.status == ContainerRequest.Status.PENDING
    assert not AuditEntry.objects.filter(action="cancel").exists()


def test_cancel_by_administrator_gets_404(staff_client, make_request):
    request = make_request()

    response = staff_client.post(cancel_url(request))

    request.refresh_from_db()
    assert response.status_code == 404
    assert request.status == ContainerRequest.Status.PENDING


def test_cancel_after_approval_shows_message(member_client, make_request, admin_user):
    request = make_request()
    approve_request(request.pk, admin_user)

    response = member_client.post(cancel_url(request), follow=True)

    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.APPROVED
    assert "This request has already been decided, so it cannot be cancelled." in response.content.decode()
