"""A real Celery worker, in a thread, takes notifications from the real Redis broker."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from containers.models import ContainerRequest
from notifications import tasks
from notifications.models import EmailNotification
from notifications.services import notify_request_approved
from portal.celery import app as celery_app

# Upper bound on waiting for the worker; the tests check the outcome, not the time taken.
WAIT_SECONDS = 30


def wait_for_status(notification: EmailNotification, status: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        notification.refresh_from_db()
        if notification.status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"Notification {notification.pk} is {notification.status}, not {status}.")


@pytest.fixture
def worker(broker, transactional_db):
    with start_worker(celery_app, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        yield


def approve_with_notification(request: ContainerRequest, admin) -> EmailNotification:
    with transaction.atomic():
        request.transition(ContainerRequest.Status.APPROVED, decided_by=admin)
        return notify_request_approved(request.pk)[0]


def test_worker_sends_notification_after_commit(worker, approved_container, member):
    notification = notify_request_approved(approved_container.request_id)[0]

    wait_for_status(notification, EmailNotification.Status.SENT)

    assert notification.attempts == 1
    assert [message.to for message in mail.outbox] == [[member.email]]


@override_settings(EMAIL_BACKEND="tests.notifications.backends.UnreachableServerBackend")
def test_worker_retries_through_broker_then_fails(worker, pending_request, admin_user, monkeypatch):
    # Retries go back through Redis; without the minutes between them the test ends quickly.
    monkeypatch.setattr(tasks, "RETRY_BASE_DELAY_SECONDS", 0)

    notification = approve_with_notification(pending_request, admin_user)

    wait_for_status(notification, EmailNotification.Status.FAILED)
    assert notification.attempts == tasks.MAX_ATTEMPTS
    assert "SMTPServerDisconnected" in notification.last_error
    pending_request.refresh_from_db()
    assert pending_request.status == ContainerRequest.Status.APPROVED


def test_worker_sends_lost_notification_after_requeue(worker, approved_container, member):
    # A pending row with no message in the broker: the process that created
    # it died before queueing it.
    notification = EmailNotification.objects.create(
        recipient=member,
        kind=EmailNotification.Kind.REQUEST_APPROVED,
        request=approved_container.request,
        container=approved_container,
        language="en",
        subject="Your container request alice-box was approved",
        body="Hello Alice,\n",
    )
    EmailNotification.objects.filter(pk=notification.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.NOTIFICATION_REQUEUE_AFTER_SECONDS + 60)
    )

    tasks.requeue_pending_notifications.delay()

    wait_for_status(notification, EmailNotification.Status.SENT)
    assert notification.attempts == 1
    assert notification.queued_at is not None
    assert [message.to for message in mail.outbox] == [[member.email]]
