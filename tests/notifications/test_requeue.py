"""Pending notifications whose message was lost are queued again, and never sent twice at once.

These tests use the real PostgreSQL database and put the messages on the
real Redis broker, then run the queued send_notification tasks in this thread.
"""

import smtplib
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from notifications.models import EmailNotification
from notifications.services import requeue_stale_notifications
from notifications.tasks import RETRY_BASE_DELAY_SECONDS, requeue_pending_notifications, send_notification
from portal.celery import app as celery_app
from tests.notifications.test_hooks import queued_tasks, run_queued_notifications
from tests.test_settings_from_env import start_django

SEND_TASK = "notifications.tasks.send_notification"
# Longer than NOTIFICATION_REQUEUE_AFTER_SECONDS, so a row this old is stale.
LONG_AGO = timedelta(seconds=settings.NOTIFICATION_REQUEUE_AFTER_SECONDS + 60)
# Upper bound on waiting for the other thread; the tests check the outcome, not the time taken.
WAIT_SECONDS = 30


@pytest.fixture
def make_pending(approved_container):
    """Return a factory of pending e-mails to the member, created `age` ago and never queued.

    That is the state a notification is left in when the process that
    created it dies between commit and queueing.
    """

    def make(age: timedelta = LONG_AGO, **fields) -> EmailNotification:
        notification = EmailNotification.objects.create(
            recipient=approved_container.owner,
            kind=EmailNotification.Kind.REQUEST_APPROVED,
            request=approved_container.request,
            container=approved_container,
            language="en",
            subject="Your container request alice-box was approved",
            body="Hello Alice,\n",
        )
        EmailNotification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - age, **fields)
        notification.refresh_from_db()
        return notification

    return make


def requeue(django_capture_on_commit_callbacks) -> list[int]:
    with django_capture_on_commit_callbacks(execute=True):
        return requeue_stale_notifications()


def test_requeue_queues_lost_notification(make_pending, member, broker, django_capture_on_commit_callbacks):
    notification = make_pending()
    started = timezone.now()

    requeued = requeue(django_capture_on_commit_callbacks)

    assert requeued == [notification.pk]
    assert queued_tasks(broker) == [(SEND_TASK, [notification.pk])]
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.PENDING
    assert notification.queued_at >= started

    run_queued_notifications(broker)

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.SENT
    assert [message.to for message in mail.outbox] == [[member.email]]


def test_requeue_skips_recent_notification(make_pending, broker, django_capture_on_commit_callbacks):
    notification = make_pending(age=timedelta(seconds=5))

    assert requeue(django_capture_on_commit_callbacks) == []

    assert queued_tasks(broker) == []
    notification.refresh_from_db()
    assert notification.queued_at is None


def test_requeue_skips_sent_and_failed(make_pending, broker, django_capture_on_commit_callbacks):
    sent = make_pending()
    sent.transition(EmailNotification.Status.SENT)
    failed = make_pending()
    failed.transition(EmailNotification.Status.FAILED, last_error="given up")

    assert requeue(django_capture_on_commit_callbacks) == []

    assert queued_tasks(broker) == []


def test_requeue_skips_notification_being_sent(make_pending, broker, django_capture_on_commit_callbacks):
    make_pending(sending_since=timezone.now() - timedelta(seconds=5))

    assert requeue(django_capture_on_commit_callbacks) == []

    assert queued_tasks(broker) == []


def test_requeue_takes_over_dead_worker_claim(make_pending, member, broker, django_capture_on_commit_callbacks):
    notification = make_pending(sending_since=timezone.now() - LONG_AGO)

    assert requeue(django_capture_on_commit_callbacks) == [notification.pk]
    run_queued_notifications(broker)

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.SENT
    assert notification.sending_since is None
    assert [message.to for message in mail.outbox] == [[member.email]]


def test_requeue_skips_retry_not_yet_due(make_pending, broker, django_capture_on_commit_callbacks):
    make_pending(queued_at=timezone.now() + timedelta(minutes=4))

    assert requeue(django_capture_on_commit_callbacks) == []

    assert queued_tasks(broker) == []


def test_requeue_takes_overdue_retry(make_pending, broker, django_capture_on_commit_callbacks):
    notification = make_pending(queued_at=timezone.now() - LONG_AGO)

    assert requeue(django_capture_on_commit_callbacks) == [notification.pk]

    assert queued_tasks(broker) == [(SEND_TASK, [notification.pk])]


@override_settings(NOTIFICATION_REQUEUE_BATCH_SIZE=2)
def test_requeue_queues_at_most_batch_oldest_first(make_pending, broker, django_capture_on_commit_callbacks):
    newest = make_pending(age=LONG_AGO)
    oldest = make_pending(age=LONG_AGO * 3)
    middle = make_pending(age=LONG_AGO * 2)

    first_run = requeue(django_capture_on_commit_callbacks)

    assert first_run == [oldest.pk, middle.pk]
    assert [arguments for _name, arguments in queued_tasks(broker)] == [[oldest.pk], [middle.pk]]
    newest.refresh_from_db()
    assert newest.queued_at is None

    second_run = requeue(django_capture_on_commit_callbacks)
    third_run = requeue(django_capture_on_commit_callbacks)

    assert second_run == [newest.pk]
    assert third_run == []


def test_requeue_twice_queues_once(make_pending, broker, django_capture_on_commit_callbacks):
    notification = make_pending()

    first_run = requeue(django_capture_on_commit_callbacks)
    second_run = requeue(django_capture_on_commit_callbacks)

    assert first_run == [notification.pk]
    assert second_run == []
    assert queued_tasks(broker) == [(SEND_TASK, [notification.pk])]


def test_requeue_task_returns_queued_ids(make_pending, broker, django_capture_on_commit_callbacks):
    notification = make_pending()

    with django_capture_on_commit_callbacks(execute=True):
        result = requeue_pending_notifications.apply()

    assert result.get() == [notification.pk]
    assert queued_tasks(broker) == [(SEND_TASK, [notification.pk])]


def test_requeue_task_is_scheduled():
    entry = settings.CELERY_BEAT_SCHEDULE["requeue-pending-notifications"]

    assert entry["task"] == requeue_pending_notifications.name
    assert entry["task"] in celery_app.tasks


def test_requeue_skips_row_locked_by_concurrent_run(make_pending, broker, transactional_db):
    notification = make_pending()
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                EmailNotification.objects.select_for_update().get(pk=notification.pk)
                locked.set()
                release.wait(WAIT_SECONDS)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(WAIT_SECONDS)
        requeued = requeue_stale_notifications()
    finally:
        release.set()
        holder.join(WAIT_SECONDS)

    assert requeued == []
    assert queued_tasks(broker) == []
    notification.refresh_from_db()
    assert notification.queued_at is None


def test_send_skips_notification_claimed_by_other_worker(make_pending):
    claimed_at = timezone.now() - timedelta(seconds=5)
    notification = make_pending(sending_since=claimed_at)

    send_notification.apply(args=[notification.pk])

    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.PENDING
    assert notification.attempts == 0
    assert notification.sending_since == claimed_at


def test_send_releases_claim_when_sent(make_pending):
    notification = make_pending()

    send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.SENT
    assert notification.sending_since is None


@override_settings(EMAIL_BACKEND="tests.notifications.backends.UnreachableServerBackend")
def test_failed_attempt_sets_retry_due_time(make_pending, broker, django_capture_on_commit_callbacks):
    notification = make_pending()
    started = timezone.now()

    # Called directly, the task records the attempt and re-raises instead of queueing a retry.
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send_notification(notification.pk)

    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.PENDING
    assert notification.attempts == 1
    assert notification.sending_since is None
    assert notification.queued_at >= started + timedelta(seconds=RETRY_BASE_DELAY_SECONDS)
    assert requeue(django_capture_on_commit_callbacks) == []


class BlockingBackend(EmailBackend):
    """Stores messages like the locmem backend, but waits inside each send until the test releases it."""

    entered = threading.Event()
    release = threading.Event()

    def send_messages(self, email_messages):
        type(self).entered.set()
        type(self).release.wait(WAIT_SECONDS)
        return super().send_messages(email_messages)


@override_settings(EMAIL_BACKEND=f"{__name__}.BlockingBackend")
def test_concurrent_deliveries_send_once(make_pending, member, transactional_db):
    notification = make_pending()
    BlockingBackend.entered.clear()
    BlockingBackend.release.clear()

    def first_delivery() -> None:
        try:
            send_notification.apply(args=[notification.pk])
        finally:
            connection.close()

    first = threading.Thread(target=first_delivery)
    first.start()
    try:
        assert BlockingBackend.entered.wait(WAIT_SECONDS)
        # A second copy of the message arrives while the first worker is sending.
        send_notification.apply(args=[notification.pk])
    finally:
        BlockingBackend.release.set()
        first.join(WAIT_SECONDS)

    assert [message.to for message in mail.outbox] == [[member.email]]
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.SENT
    assert notification.attempts == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOTIFICATION_REQUEUE_AFTER_SECONDS", "soon"),
        ("NOTIFICATION_REQUEUE_AFTER_SECONDS", "5"),
        ("NOTIFICATION_REQUEUE_BATCH_SIZE", "0"),
    ],
)
def test_bad_requeue_setting_stops_start(name, value):
    result = start_django({name: value, "EMAIL_TIMEOUT": "10"})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]
