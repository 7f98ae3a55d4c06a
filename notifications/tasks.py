"""Send queued e-mail notifications, retrying while the mail server is unreachable."""

import logging
import smtplib
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.models import EmailNotification

logger = logging.getLogger(__name__)

# Five attempts in all, the retries 1, 2, 4 and 8 minutes apart.
MAX_ATTEMPTS = 5
RETRY_BASE_DELAY_SECONDS = 60

# Errors from the mail server or the network on the way to it.
TRANSIENT_ERRORS = (smtplib.SMTPException, OSError)

# last_error keeps this many characters of an error message.
MAX_ERROR_LENGTH = 1000


@shared_task(bind=True, max_retries=MAX_ATTEMPTS - 1)
def send_notification(self, notification_id: int) -> None:
    """Send one notification and mark it sent, or record the error and retry, then mark it failed.

    A notification that is gone, no longer pending, or claimed by another
    worker is left alone, so a message delivered twice does not send the
    e-mail twice. The exceptions: a worker dies between sending and marking
    it sent, or a send outlasts NOTIFICATION_REQUEUE_AFTER_SECONDS and
    another worker takes it over.
    """
    notification = EmailNotification.objects.select_related("recipient").filter(pk=notification_id).first()
    if notification is None:
        logger.info("Notification %s not found; nothing to send.", notification_id)
        return
    if notification.status != EmailNotification.Status.PENDING:
        logger.info("Notification %s is %s, not pending; not sending it.", notification.pk, notification.status)
        return
    if not _claim(notification):
        logger.info("Notification %s is being sent by another worker or is no longer pending.", notification.pk)
        return

    attempts = notification.attempts + 1
    address = notification.recipient.email
    if not address:
        notification.transition(
            EmailNotification.Status.FAILED,
            attempts=attempts,
            last_error=_("The recipient has no e-mail address."),
            sending_since=None,
        )
        logger.warning(
            "Notification %s failed: user %s has no e-mail address.", notification.pk, notification.recipient_id
        )
        return

    try:
        _deliver(notification, address)
    except TRANSIENT_ERRORS as error:
        last_error = _describe(error)
        if _is_permanent(error) or self.request.retries >= self.max_retries:
            notification.transition(
                EmailNotification.Status.FAILED, attempts=attempts, last_error=last_error, sending_since=None
            )
            logger.warning("Notification %s failed after %s attempts: %s", notification.pk, attempts, last_error)
            return

        delay = RETRY_BASE_DELAY_SECONDS * 2**self.request.retries
        now = timezone.now()
        # queued_at is the time the retry is due, so the requeue task leaves
        # the row alone while its retry waits in the broker.
        EmailNotification.objects.filter(pk=notification.pk).update(
            attempts=attempts,
            last_error=last_error,
            queued_at=now + timedelta(seconds=delay),
            sending_since=None,
            updated_at=now,
        )
        logger.warning(
            "Notification %s: attempt %s failed (%s); retrying in %s s.", notification.pk, attempts, last_error, delay
        )
        raise self.retry(exc=error, countdown=delay)
    except Exception as error:
        # A bug, not the mail server: show it on the failures page and let
        # the worker log the traceback.
        notification.transition(
            EmailNotification.Status.FAILED, attempts=attempts, last_error=_describe(error), sending_since=None
        )
        raise

    notification.transition(
        EmailNotification.Status.SENT, attempts=attempts, last_error="", sent_at=timezone.now(), sending_since=None
    )
    logger.info("Notification %s (%s) sent to user %s.", notification.pk, notification.kind, notification.recipient_id)


@shared_task
def requeue_pending_notifications() -> list[int]:
    """Queue again the pending notifications whose message was lost, and return their ids."""
    # services imports this module for send_notification.
    from notifications.services import requeue_stale_notifications

    return requeue_stale_notifications()


def _claim(notification: EmailNotification) -> bool:
    """Mark the notification as being sent by this worker; return False if another worker is sending it.

    A claim older than NOTIFICATION_REQUEUE_AFTER_SECONDS belongs to a worker
    that died, so it can be taken over.
    """
    now = timezone.now()
    expired = now - timedelta(seconds=settings.NOTIFICATION_REQUEUE_AFTER_SECONDS)
    claimed = (
        EmailNotification.objects.filter(pk=notification.pk, status=EmailNotification.Status.PENDING)
        .filter(Q(sending_since__isnull=True) | Q(sending_since__lt=expired))
        .update(sending_since=now, updated_at=now)
    )
    return claimed == 1


def _deliver(notification: EmailNotification, address: str) -> None:
    message = EmailMessage(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        # RFC 3834: automatic responders such as vacation replies must not reply to it.
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.send()


def _is_permanent(error: Exception) -> bool:
    """Return True for SMTP replies in the 5xx range, which the same message will get again."""
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    return False


def _describe(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_LENGTH]
