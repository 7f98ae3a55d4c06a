"""Members' requests and the containers built for them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from containers.models.base import StatusModel
from containers.models.lab import Host, Template


class ContainerRequest(StatusModel):
    """A member's request for a container, decided by an administrator.

    Transitions: pending -> approved | rejected | cancelled. Nothing leaves
    approved, rejected or cancelled; what happens after approval is the
    container's status.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    TRANSITIONS = {
        Status.PENDING: {Status.APPROVED, Status.REJECTED, Status.CANCELLED},
    }

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.CASCADE, related_name="container_requests"
    )
    template = models.ForeignKey(Template, verbose_name=_("template"), on_delete=models.PROTECT)
    name = models.CharField(_("container name"), max_length=63)
    username = models.CharField(_("username"), max_length=32)
    # A crypt(3) hash ($6$ or $y$), never the password. Cleared once the
    # container is ready, because nothing needs it after that.
    password_hash = models.CharField(max_length=255, blank=True)
    ssh_keys = models.TextField(_("SSH public keys"), blank=True)
    reason = models.TextField(_("reason"), max_length=1000)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    rejection_reason = models.TextField(_("rejection reason"), blank=True, max_length=1000)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("container request")
        verbose_name_plural = _("container requests")
        ordering = ["-created_at"]
        constraints = [
            # Two open requests may not ask for the same name.
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(status="pending"),
                name="request_unique_pending_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Container(StatusModel):
    """An LXD instance the portal built (or is building) for an approved request.

    Transitions:
        provisioning -> ready | failed
        failed -> provisioning (retry) | removing (abandon)
        ready -> removing
        removing -> removed | failed
    """

    class Status(models.TextChoices):
        PROVISIONING = "provisioning", _("Provisioning")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        REMOVING = "removing", _("Removing")
        REMOVED = "removed", _("Removed")

    TRANSITIONS = {
        Status.PROVISIONING: {Status.READY, Status.FAILED},
        Status.FAILED: {Status.PROVISIONING, Status.REMOVING},
        Status.READY: {Status.REMOVING},
        Status.REMOVING: {Status.REMOVED, Status.FAILED},
    }

    request = models.OneToOneField(
        ContainerRequest, verbose_name=_("request"), on_delete=models.PROTECT, related_name="container"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="containers"
    )
    host = models.ForeignKey(Host, verbose_name=_("host"), on_delete=models.PROTECT, related_name="containers")
    template = models.ForeignKey(Template, verbose_name=_("template"), on_delete=models.PROTECT)
    name = models.CharField(_("name"), max_length=63)
    username = models.CharField(_("username"), max_length=32)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PROVISIONING)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)

    class Meta:
        verbose_name = _("container")
        verbose_name_plural = _("containers")
        ordering = ["name"]
        constraints = [
            # A name stays taken until its container is removed.
            models.UniqueConstraint(
                fields=["name"],
                condition=~Q(status="removed"),
                name="container_unique_live_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """A record of who did what to which request or container, kept for the lab's records."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=40)
    request = models.ForeignKey(
        ContainerRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_entries"
    )
    container = models.ForeignKey(
        Container, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_entries"
    )
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor}"
