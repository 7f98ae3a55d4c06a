"""E-mails the portal sends to members and administrators, one row per message."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from containers.models import Container, ContainerRequest, StatusModel


class EmailNotification(StatusModel):
    """One e-mail to one user, rendered in their language when the event happened.

    Subject and body are stored as rendered, so "send again" sends the same
    text. They never contain a password or its hash.

    Transitions:
        pending -> sent | failed
        failed -> pending (an administrator sends it again)

    A worker claims a pending row by setting `sending_since` with a
    conditional UPDATE before it sends, so two copies of its message never
    send it at the same time. A pending row that no worker took within
    NOTIFICATION_REQUEUE_AFTER_SECONDS is queued again by a periodic task.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    TRANSITIONS = {
        Status.PENDING: {Status.SENT, Status.FAILED},
        Status.FAILED: {Status.PENDING},
    }

    class Kind(models.TextChoices):
        REQUEST_SUBMITTED = "request_submitted", _("New request")
        REQUEST_APPROVED = "request_approved", _("Request approved")
        REQUEST_REJECTED = "request_rejected", _("Request rejected")
        CONTAINER_READY = "container_ready", _("Container ready")
        CONTAINER_FAILED = "container_failed", _("Provisioning failed")
        CONTAINER_FAILED_ADMIN = "container_failed_admin", _("Provisioning failed (to administrators)")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="email_notifications",
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    request = models.ForeignKey(
        ContainerRequest,
        verbose_name=_("request"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="email_notifications",
    )
    container = models.ForeignKey(
        Container,
        verbose_name=_("container"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="email_notifications",
    )
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Time the latest message to send it was queued, or the time its scheduled
    # retry is due. Empty means it was queued when it was created.
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    # Time a worker claimed it for the current attempt. Empty while no worker is sending it.
    sending_since = models.DateTimeField(_("sending since"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail notification")
        verbose_name_plural = _("e-mail notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "-created_at"], name="notification_status_created")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_id} #{self.pk}"
