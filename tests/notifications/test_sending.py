"""The send_notification task: sending, retrying, giving up, and what it logs."""

import logging

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.test import override_settings

from containers.models import ContainerRequest
from notifications import tasks
from notifications.models import EmailNotification
from notifications.services import notify_request_approved
from notifications.tasks import send_notification

UNREACHABLE = "tests.notifications.backends.UnreachableServerBackend"
REFUSED_CONNECTION = "tests.notifications.backends.RefusedConnectionBackend"
RECIPIENT_REFUSED = "tests.notifications.backends.RecipientRefusedBackend"


@pytest.fixture
def notification(approved_container, django_capture_on_commit_callbacks) -> EmailNotification:
    """A pending approval e-mail to the member, not queued (its on_commit callback is dropped)."""
    with django_capture_on_commit_callbacks(execute=False):
        return notify_request_approved(approved_container.request_id)[0]


def test_task_sends_and_marks_sent(notification, member):
    send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.SENT
    assert notification.attempts == 1
    assert notification.sent_at is not None
    assert notification.last_error == ""
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.email]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == notification.subject
    assert message.body == notification.body
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"


def test_task_uses_current_address_of_recipient(notification, member):
    member.email = "alice.new@example.test"
    member.save(update_fields=["email"])

    send_notification.apply(args=[notification.pk])

    assert mail.outbox[0].to == ["alice.new@example.test"]


@override_settings(EMAIL_BACKEND=UNREACHABLE)
def test_unreachable_server_retried_then_failed(notification):
    send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.attempts == tasks.MAX_ATTEMPTS
    assert "SMTPServerDisconnected" in notification.last_error
    assert notification.sent_at is None
    assert mail.outbox == []


@override_settings(EMAIL_BACKEND=REFUSED_CONNECTION)
def test_refused_connection_retried_then_failed(notification):
    send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.attempts == tasks.MAX_ATTEMPTS
    assert "ConnectionRefusedError" in notification.last_error


@override_settings(EMAIL_BACKEND=RECIPIENT_REFUSED)
def test_refused_recipient_fails_without_retry(notification):
    send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.attempts == 1
    assert "550" in notification.last_error


@override_settings(EMAIL_BACKEND=UNREACHABLE)
def test_retry_delay_doubles(notification, caplog):
    with caplog.at_level(logging.WARNING, logger="notifications.tasks"):
        send_notification.apply(args=[notification.pk])

    retries = [record for record in caplog.records if "retrying in" in record.getMessage()]
    delays = [record.args[-1] for record in retries]
    base = tasks.RETRY_BASE_DELAY_SECONDS
    assert delays == [base, 2 * base, 4 * base, 8 * base]


@override_settings(EMAIL_BACKEND=UNREACHABLE)
def test_logs_name_notification_but_never_body(notification, caplog):
    with caplog.at_level(logging.DEBUG):
        send_notification.apply(args=[notification.pk])

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings
    assert all(f"Notification {notification.pk}" in record.getMessage() for record in warnings)
    for record in caplog.records:
        text = record.getMessage()
        assert notification.body not in text
        assert "Its IP address will be" not in text


def test_sent_notification_logged_at_info(notification, caplog):
    with caplog.at_level(logging.INFO, logger="notifications.tasks"):
        send_notification.apply(args=[notification.pk])

    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert f"Notification {notification.pk} (request_approved) sent to user {notification.recipient_id}." in messages


def test_sent_notification_not_sent_twice(notification):
    send_notification.apply(args=[notification.pk])
    send_notification.apply(args=[notification.pk])

    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1


def test_failed_notification_not_sent_by_stale_message(notification):
    notification.transition(EmailNotification.Status.FAILED, last_error="given up")

    send_notification.apply(args=[notification.pk])

    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED


def test_missing_notification_is_ignored(db):
    result = send_notification.apply(args=[999_999])

    assert result.successful()
    assert mail.outbox == []


def test_recipient_without_address_fails(notification, member):
    member.email = ""
    member.save(update_fields=["email"])

    send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.attempts == 1
    assert notification.last_error == "The recipient has no e-mail address."


@override_settings(EMAIL_BACKEND=UNREACHABLE)
def test_failing_server_leaves_approval_committed(
    pending_request, admin_user, celery_eager, django_capture_on_commit_callbacks
):
    # The shape of an approval: change the request and create the
    # notification in one transaction; the e-mail goes out after commit.
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            pending_request.transition(ContainerRequest.Status.APPROVED, decided_by=admin_user)
            notification = notify_request_approved(pending_request.pk)[0]

    pending_request.refresh_from_db()
    assert pending_request.status == ContainerRequest.Status.APPROVED
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.attempts == tasks.MAX_ATTEMPTS
    assert mail.outbox == []


def test_unreachable_broker_marks_notification_failed(
    pending_request, admin_user, unreachable_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            pending_request.transition(ContainerRequest.Status.APPROVED, decided_by=admin_user)
            notification = notify_request_approved(pending_request.pk)[0]

    pending_request.refresh_from_db()
    assert pending_request.status == ContainerRequest.Status.APPROVED
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.last_error.startswith("Could not queue the e-mail:")
    assert notification.attempts == 0
