"""The staff page of failed e-mails and its "send again" action."""

import pytest
from django.conf import settings
from django.core import mail
from django.shortcuts import resolve_url
from django.test import override_settings
from django.urls import reverse

from notifications.models import EmailNotification
from notifications.services import notify_request_approved
from notifications.tasks import send_notification

FAILURES_URL = reverse("notifications:failures")


@pytest.fixture
def failed_notification(approved_container, django_capture_on_commit_callbacks) -> EmailNotification:
    """The member's approval e-mail after every attempt failed against an unreachable server."""
    with django_capture_on_commit_callbacks(execute=False):
        notification = notify_request_approved(approved_container.request_id)[0]
    with override_settings(EMAIL_BACKEND="tests.notifications.backends.UnreachableServerBackend"):
        send_notification.apply(args=[notification.pk])
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    return notification


def send_again_url(notification: EmailNotification) -> str:
    return reverse("notifications:send_again", args=[notification.pk])


def test_failures_page_lists_failed_notifications(staff_client, failed_notification):
    response = staff_client.get(FAILURES_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert failed_notification.subject in page
    assert "SMTPServerDisconnected" in page
    assert send_again_url(failed_notification) in page
    assert list(response.context["page"].object_list) == [failed_notification]


def test_failures_page_leaves_out_sent_and_pending(
    staff_client, approved_container, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        pending = notify_request_approved(approved_container.request_id)[0]
        sent = notify_request_approved(approved_container.request_id)[0]
    send_notification.apply(args=[sent.pk])

    response = staff_client.get(FAILURES_URL)

    assert response.status_code == 200
    assert list(response.context["page"].object_list) == []
    assert send_again_url(pending) not in response.content.decode()
    assert send_again_url(sent) not in response.content.decode()


def test_failures_page_sends_anonymous_to_login(client, failed_notification):
    response = client.get(FAILURES_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))


def test_failures_page_refuses_members(member_client, failed_notification):
    response = member_client.get(FAILURES_URL)

    assert response.status_code == 403


def test_send_again_refuses_get(staff_client, failed_notification):
    response = staff_client.get(send_again_url(failed_notification))

    assert response.status_code == 405
    failed_notification.refresh_from_db()
    assert failed_notification.status == EmailNotification.Status.FAILED


def test_send_again_sends_anonymous_to_login(client, failed_notification):
    response = client.post(send_again_url(failed_notification))

    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))
    failed_notification.refresh_from_db()
    assert failed_notification.status == EmailNotification.Status.FAILED


def test_send_again_refuses_members(member_client, failed_notification):
    response = member_client.post(send_again_url(failed_notification))

    assert response.status_code == 403
    failed_notification.refresh_from_db()
    assert failed_notification.status == EmailNotification.Status.FAILED
    assert mail.outbox == []


def test_send_again_sends_the_same_email(
    staff_client, failed_notification, member, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(send_again_url(failed_notification))

    assert response.status_code == 302
    assert response["Location"] == FAILURES_URL
    failed_notification.refresh_from_db()
    assert failed_notification.status == EmailNotification.Status.SENT
    assert failed_notification.attempts == 6
    assert failed_notification.sent_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [member.email]
    assert mail.outbox[0].subject == failed_notification.subject
    assert mail.outbox[0].body == failed_notification.body


def test_send_again_shows_notification_leaving_page(
    staff_client, failed_notification, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(send_again_url(failed_notification), follow=True)

    assert "is queued again" in response.content.decode()
    assert list(response.context["page"].object_list) == []


def test_send_again_ignores_sent_notification(
    staff_client, failed_notification, celery_eager, django_capture_on_commit_callbacks
):
    failed_notification.transition(EmailNotification.Status.PENDING)
    failed_notification.transition(EmailNotification.Status.SENT)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = staff_client.post(send_again_url(failed_notification), follow=True)

    assert callbacks == []
    assert "not marked as failed any more" in response.content.decode()
    failed_notification.refresh_from_db()
    assert failed_notification.status == EmailNotification.Status.SENT
    assert mail.outbox == []


def test_send_again_unknown_notification_is_404(staff_client, db):
    response = staff_client.post(reverse("notifications:send_again", args=[999_999]))

    assert response.status_code == 404
