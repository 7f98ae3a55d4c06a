"""Provisioning jobs, their steps and their log lines."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from containers.models.base import StatusModel
from containers.models.requests import Container


class ProvisioningJob(StatusModel):
    """One attempt series at building a container; retries resume the same job.

    Transitions:
        queued -> running | abandoned
        running -> succeeded | failed | queued (the worker died and the job
                   was delivered again)
        failed -> queued (retry) | abandoned
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned")

    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.ABANDONED},
        Status.RUNNING: {Status.SUCCEEDED, Status.FAILED, Status.QUEUED},
        Status.FAILED: {Status.QUEUED, Status.ABANDONED},
    }

    class Kind(models.TextChoices):
        PROVISION = "provision", _("Provision")
        REMOVE = "remove", _("Remove")

    container = models.ForeignKey(Container, verbose_name=_("container"), on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.PROVISION)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # Refreshed by the worker at every step; a running job whose heartbeat is
    # older than PROVISIONING_LEASE_SECONDS belongs to a worker that died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("provisioning job")
        verbose_name_plural = _("provisioning jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.container} #{self.pk}"


class JobStep(models.Model):
    """One step of a job, in the order the worker runs them."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    job = models.ForeignKey(ProvisioningJob, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(_("step"), max_length=40)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="jobstep_unique_position"),
            models.UniqueConstraint(fields=["job", "name"], name="jobstep_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class JobLogLine(models.Model):
    """A line of a job's log, shown to administrators beside the steps."""

    class Level(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    job = models.ForeignKey(ProvisioningJob, on_delete=models.CASCADE, related_name="log_lines")
    step = models.CharField(max_length=40, blank=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.message[:80]
