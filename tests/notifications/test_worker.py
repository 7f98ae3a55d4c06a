"""A real Celery worker, in a thread, takes notifications from the real Redis broker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction
from django.test import override_settings

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
