"""Create e-mail notifications for request and container events, and queue them.

Each `notify_*` function renders its e-mails and inserts their rows in the
caller's transaction, then queues `send_notification` with
`transaction.on_commit`. The caller never waits for the mail server, a mail
server that fails never rolls back the caller's change, and a change that is
rolled back sends nothing.
"""

import logging
from functools import partial

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError

from containers.models import Address, Container, ContainerRequest, JobStep, ProvisioningJob
from notifications.models import EmailNotification
from notifications.rendering import portal_url, render_email
from notifications.tasks import send_notification

__all__ = [
    "notify_container_failed",
    "notify_container_ready",
    "notify_request_approved",
    "notify_request_rejected",
    "notify_request_submitted",
    "send_again",
]

logger = logging.getLogger(__name__)

Kind = EmailNotification.Kind

# Descriptions of the provisioning steps (JobStep.name) for the member's failure e-mail.
STEP_LABELS = {
    "copy": gettext_lazy("copy the template"),
    "configure": gettext_lazy("set the hostname and resource limits"),
    "start": gettext_lazy("start the container"),
    "push_script": gettext_lazy("upload the setup script"),
    "run_script": gettext_lazy("run the setup script"),
    "restart": gettext_lazy("restart the container"),
    "wait_running": gettext_lazy("wait for the container to run"),
    "verify": gettext_lazy("check the address and the user"),
}

# A provisioning error longer than this is cut in the e-mail; the job page has all of it.
MAX_ERROR_LENGTH = 1000
HIDDEN = "[hidden]"


def notify_request_submitted(request_id: int) -> list[EmailNotification]:
    """Tell every active administrator with an e-mail address about a new request."""
    request = ContainerRequest.objects.select_related("member", "template").filter(pk=request_id).first()
    if request is None:
        logger.warning("Request %s not found; no new-request notification created.", request_id)
        return []

    administrators = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="").order_by("pk")
    context = {"request": request, "link": portal_url("containers:pending_requests")}
    notifications = [
        _create(administrator, Kind.REQUEST_SUBMITTED, context, request=request) for administrator in administrators
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
    """Tell the owner that building their container failed, at which step, and what happens next."""
    container = Container.objects.select_related("owner", "request").filter(pk=container_id).first()
    if container is None:
        logger.warning("Container %s not found; no failure notification created.", container_id)
        return []

    step, error = _failure_of(container)
    if len(error) > MAX_ERROR_LENGTH:
        error = error[:MAX_ERROR_LENGTH] + "…"
    context = {
        "container": container,
        "step": STEP_LABELS.get(step, step),
        "error": error,
        "link": portal_url("containers:request_detail", container.request_id),
    }
    return _created(
        _create(container.owner, Kind.CONTAINER_FAILED, context, request=container.request, container=container)
    )


def send_again(notification_id: int, admin) -> bool:
    """Queue a failed notification again. Return False if it is not failed (any more)."""
    with transaction.atomic():
        notification = EmailNotification.objects.get(pk=notification_id)
        if not notification.transition(EmailNotification.Status.PENDING):
            return False
        transaction.on_commit(partial(_enqueue, notification.pk), robust=True)
    logger.info("Notification %s queued again by user %s.", notification.pk, admin.pk)
    return True


def _create(recipient, kind: str, context: dict, request=None, container=None) -> EmailNotification | None:
    if not recipient.email:
        logger.info("User %s has no e-mail address; no %s notification created.", recipient.pk, kind)
        return None

    email = render_email(kind, recipient, context)
    subject, body = email.subject, email.body

    # The templates never show the password hash, but a provisioning error
    # or a reason typed by a person could quote it.
    password_hash = request.password_hash if request is not None else ""
    if password_hash:
        subject = subject.replace(password_hash, HIDDEN)
        body = body.replace(password_hash, HIDDEN)

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


def _failure_of(container: Container) -> tuple[str, str]:
    """Return the name of the step that failed in the latest provisioning job, and its error."""
    job = container.jobs.filter(kind=ProvisioningJob.Kind.PROVISION).order_by("-created_at", "-pk").first()
    step = None
    if job is not None:
        step = job.steps.filter(status=JobStep.Status.FAILED).order_by("position").first()

    if step is not None and step.error:
        return step.name, step.error
    if job is not None and job.last_error:
        return (step.name if step else ""), job.last_error
    return (step.name if step else ""), container.last_error
