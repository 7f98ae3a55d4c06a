"""Create e-mail notifications for request and container events, and queue them.

Each `notify_*` function renders its e-mails and inserts their rows in the
caller's transaction, then queues `send_notification` with
`transaction.on_commit`. The caller never waits for the mail server, a mail
server that fails never rolls back the caller's change, and a change that is
rolled back sends nothing.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError

from containers.models import Address, Container, ContainerRequest, JobLogLine, JobStep, ProvisioningJob
from notifications.models import EmailNotification
from notifications.rendering import portal_url, render_email
from notifications.tasks import send_notification

__all__ = [
    "notify_container_failed",
    "notify_container_ready",
    "notify_request_approved",
    "notify_request_rejected",
    "notify_request_submitted",
    "requeue_stale_notifications",
    "send_again",
]

logger = logging.getLogger(__name__)

Kind = EmailNotification.Kind

# Descriptions of the job steps (JobStep.name) for the failure e-mails.
STEP_LABELS = {
    "copy": gettext_lazy("copy the template"),
    "configure": gettext_lazy("set the hostname and resource limits"),
    "start": gettext_lazy("start the container"),
    "push_script": gettext_lazy("upload the setup script"),
    "run_script": gettext_lazy("run the setup script"),
    "restart": gettext_lazy("restart the container"),
    "wait_running": gettext_lazy("wait for the container to run"),
    "verify": gettext_lazy("check the address and the user"),
    "delete": gettext_lazy("delete the container"),
    "release": gettext_lazy("release the IP address"),
}

# A provisioning error longer than this is cut in the e-mail; the job page has all of it.
MAX_ERROR_LENGTH = 1000
HIDDEN = "[hidden]"


@dataclass(frozen=True)
class Failure:
    """The step and the error at which a container's latest provisioning job failed."""

    job: ProvisioningJob | None
    step: str
    # The message the member was shown, in their language.
    error: str
    # The job log's latest error line for administrators, or `error` when the log has none.
    detail: str


def notify_request_submitted(request_id: int) -> list[EmailNotification]:
    """Tell every active administrator with an e-mail address about a new request."""
    request = ContainerRequest.objects.select_related("member", "template").filter(pk=request_id).first()
    if request is None:
        logger.warning("Request %s not found; no new-request notification created.", request_id)
        return []

    context = {"request": request, "link": portal_url("containers:pending_requests")}
    notifications = [
        _create(administrator, Kind.REQUEST_SUBMITTED, context, request=request) for administrator in _administrators()
    ]
    return [notification for notification in notifications if notification is not None]


def notify_request_approved(request_id: int) -> list[EmailNotification]:
    """Tell the member that their request was approved and the container is being built."""
    request = ContainerRequest.objects.select_related("member").filter(pk=request_id).first()
    if request is None:
        logger.warning("Request %s not found; no approval notification created.", request_id)
        return []

    container = Container.objects.filter(request=request).first()
    context = {
        "request": request,
        "ip": _held_ip(container),
        "link": portal_url("containers:request_detail", request.pk),
    }
    return _created(_create(request.member, Kind.REQUEST_APPROVED, context, request=request, container=container))


def notify_request_rejected(request_id: int) -> list[EmailNotification]:
    """Tell the member that their request was rejected, with the administrator's reason."""
    request = ContainerRequest.objects.select_related("member").filter(pk=request_id).first()
    if request is None:
        logger.warning("Request %s not found; no rejection notification created.", request_id)
        return []

    context = {
        "request": request,
        "reason": request.rejection_reason,
        "link": portal_url("containers:request_detail", request.pk),
        "new_request_link": portal_url("containers:request_create"),
    }
    return _created(_create(request.member, Kind.REQUEST_REJECTED, context, request=request))


def notify_container_ready(container_id: int) -> list[EmailNotification]:
    """Tell the owner that their container is ready: its address, username and SSH command."""
    container = Container.objects.select_related("owner", "request").filter(pk=container_id).first()
    if container is None:
        logger.warning("Container %s not found; no ready notification created.", container_id)
        return []

    ip = _held_ip(container)
    if not ip:
        logger.warning("Container %s is ready but has no address; the e-mail has no SSH command.", container.pk)
    context = {
        "container": container,
        "ip": ip,
        "username": container.username,
        "ssh_command": f"ssh {container.username}@{ip}" if ip else "",
        "link": portal_url("containers:request_detail", container.request_id),
    }
    return _created(
        _create(container.owner, Kind.CONTAINER_READY, context, request=container.request, container=container)
    )


def notify_container_failed(container_id: int) -> list[EmailNotification]:
    """Tell the owner and the administrators that building a container failed, and at which step.

    The owner's e-mail explains what happens next. Each active administrator
    with an e-mail address gets the technical error and a link to the job page.
    """
    container = Container.objects.select_related("owner", "request", "host").filter(pk=container_id).first()
    if container is None:
        logger.warning("Container %s not found; no failure notification created.", container_id)
        return []

    failure = _failure_of(container)
    request = container.request
    step_label = STEP_LABELS.get(failure.step, failure.step)
    member_context = {
        "container": container,
        "step": step_label,
        "error": _keep_start(_hide_hash(failure.error, request)),
        "link": portal_url("containers:request_detail", container.request_id),
    }
    notifications = _created(
        _create(container.owner, Kind.CONTAINER_FAILED, member_context, request=request, container=container)
    )

    if failure.job is not None:
        job_link = portal_url("containers:job_detail", failure.job.pk)
    else:
        job_link = portal_url("containers:container_list")
    admin_context = {
        "container": container,
        "member": container.owner,
        "step": step_label,
        "step_name": failure.step,
        # The end of a long output is where the error usually is.
        "error": _keep_end(_hide_hash(failure.detail, request)),
        "link": job_link,
    }
    for administrator in _administrators():
        notifications += _created(
            _create(administrator, Kind.CONTAINER_FAILED_ADMIN, admin_context, request=request, container=container)
        )
    return notifications


def send_again(notification_id: int, admin) -> bool:
    """Queue a failed notification again. Return False if it is not failed (any more)."""
    with transaction.atomic():
        notification = EmailNotification.objects.get(pk=notification_id)
        if not notification.transition(EmailNotification.Status.PENDING, queued_at=timezone.now()):
            return False
        transaction.on_commit(partial(_enqueue, notification.pk), robust=True)
    logger.info("Notification %s queued again by user %s.", notification.pk, admin.pk)
    return True


def requeue_stale_notifications() -> list[int]:
    """Queue again the pending notifications that no worker took in time, and return their ids.

    A notification stays pending without a message in the broker when the
    process that created it died between commit and queueing, or when the
    broker lost the message. Rows whose retry is not due yet, or that a
    worker is sending, are left alone. Rows locked by a concurrent run are
    skipped, so two runs never queue the same row. One run queues at most
    NOTIFICATION_REQUEUE_BATCH_SIZE rows, the longest waiting first.
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.NOTIFICATION_REQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        stale = (
            EmailNotification.objects.filter(status=EmailNotification.Status.PENDING)
            .annotate(last_queued_at=Coalesce("queued_at", "created_at"))
            .filter(last_queued_at__lt=stale_before)
            .filter(Q(sending_since__isnull=True) | Q(sending_since__lt=stale_before))
            .order_by("last_queued_at", "pk")
            .select_for_update(skip_locked=True)
        )
        notification_ids = list(stale.values_list("pk", flat=True)[: settings.NOTIFICATION_REQUEUE_BATCH_SIZE])
        EmailNotification.objects.filter(pk__in=notification_ids).update(queued_at=now, updated_at=now)
        for notification_id in notification_ids:
            transaction.on_commit(partial(_enqueue, notification_id), robust=True)

    if notification_ids:
        logger.info("Queued %s pending notifications again: %s", len(notification_ids), notification_ids)
    return notification_ids


def _create(recipient, kind: str, context: dict, request=None, container=None) -> EmailNotification | None:
    if not recipient.email:
        logger.info("User %s has no e-mail address; no %s notification created.", recipient.pk, kind)
        return None

    email = render_email(kind, recipient, context)
    # The templates never show the password hash, but a provisioning error
    # or a reason typed by a person could quote it.
    subject = _hide_hash(email.subject, request)
    body = _hide_hash(email.body, request)

    notification = EmailNotification.objects.create(
        recipient=recipient,
        kind=kind,
        request=request,
        container=container,
        language=email.language,
        subject=subject,
        body=body,
    )
    # robust: an error while queueing is logged and never reaches the caller,
    # whose change is committed by then.
    transaction.on_commit(partial(_enqueue, notification.pk), robust=True)
    logger.info("Notification %s (%s) created for user %s.", notification.pk, kind, recipient.pk)
    return notification


def _created(notification: EmailNotification | None) -> list[EmailNotification]:
    return [notification] if notification is not None else []


def _administrators():
    return get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="").order_by("pk")


def _hide_hash(text: str, request: ContainerRequest | None) -> str:
    """Replace the request's password hash in `text` with a placeholder.

    Callers that cut a text must hide the hash first, because a cut hash no
    longer matches but its salt and digest still give it away.
    """
    password_hash = request.password_hash if request is not None else ""
    if password_hash:
        return text.replace(password_hash, HIDDEN)
    return text


def _keep_start(text: str) -> str:
    if len(text) <= MAX_ERROR_LENGTH:
        return text
    return text[:MAX_ERROR_LENGTH] + "…"


def _keep_end(text: str) -> str:
    text = text.strip()
    if len(text) <= MAX_ERROR_LENGTH:
        return text
    return "[…]\n" + text[-MAX_ERROR_LENGTH:]


def _enqueue(notification_id: int) -> None:
    try:
        send_notification.delay(notification_id)
    except OperationalError as error:
        # The broker is unreachable. Marking the row failed puts it on the
        # failures page, where an administrator can send it again later.
        notification = EmailNotification.objects.filter(pk=notification_id).first()
        if notification is not None:
            notification.transition(
                EmailNotification.Status.FAILED,
                last_error=_("Could not queue the e-mail: %(error)s") % {"error": error},
            )
        logger.warning("Notification %s could not be queued: %s", notification_id, error)


def _held_ip(container: Container | None) -> str:
    if container is None:
        return ""
    try:
        return container.address.ip
    except Address.DoesNotExist:
        return ""


def _failure_of(container: Container) -> Failure:
    """Find the step that failed in the latest provisioning job, its error, and the job log's detail."""
    job = container.jobs.filter(kind=ProvisioningJob.Kind.PROVISION).order_by("-created_at", "-pk").first()
    step = None
    if job is not None:
        step = job.steps.filter(status=JobStep.Status.FAILED).order_by("position").first()
    step_name = step.name if step is not None else ""

    if step is not None and step.error:
        error = step.error
    elif job is not None and job.last_error:
        error = job.last_error
    else:
        error = container.last_error

    detail = ""
    if job is not None:
        errors = job.log_lines.filter(level=JobLogLine.Level.ERROR)
        if step is not None:
            errors = errors.filter(step=step.name)
        detail = errors.order_by("-created_at", "-pk").values_list("message", flat=True).first() or ""
    return Failure(job=job, step=step_name, error=error, detail=detail or error)
