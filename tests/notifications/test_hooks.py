"""The places in the portal that create notifications: the request form, the services and the runner.

Approval also queues the provisioning job, so these tests queue tasks on the
real Redis broker instead of running them eagerly (an eager provisioning job
would talk to LXD), and then run only the queued send_notification tasks.
"""

import base64
import json

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from containers.models import Address, Container, ContainerRequest, JobStep, ProvisioningJob
from containers.provisioning import run_job
from containers.services import approve_request, cancel_request, reject_request
from hostops.lxd import LXDUnavailable
from notifications.models import EmailNotification
from notifications.tasks import MAX_ATTEMPTS, send_notification
from tests.notifications.conftest import CONTAINER_IP, KNOWN_HASH

STRONG_PASSWORD = "Quiet-Lantern-93-Orbit"


def queued_tasks(broker) -> list[tuple[str, list]]:
    """Return (task name, positional arguments) of every message waiting in the task queue, oldest first."""
    tasks = []
    for raw in reversed(broker.lrange("portal", 0, -1)):
        message = json.loads(raw)
        arguments = json.loads(base64.b64decode(message["body"]))[0]
        tasks.append((message["headers"]["task"], arguments))
    return tasks


def run_queued_notifications(broker) -> list[int]:
    """Run every queued send_notification task in this thread; return the notification ids."""
    notification_ids = [
        arguments[0] for name, arguments in queued_tasks(broker) if name == "notifications.tasks.send_notification"
    ]
    for notification_id in notification_ids:
        send_notification.apply(args=[notification_id])
    return notification_ids


def test_request_form_notifies_administrators(
    member_client, template, admin_user, celery_eager, django_capture_on_commit_callbacks
):
    data = {
        "name": "alice-box",
        "username": "alice",
        "password": STRONG_PASSWORD,
        "password_confirm": STRONG_PASSWORD,
        "ssh_keys": "",
        "template": str(template.pk),
        "reason": "Training a model for my thesis.",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("containers:request_create"), data)

    assert response.status_code == 302
    notification = EmailNotification.objects.get()
    assert notification.kind == EmailNotification.Kind.REQUEST_SUBMITTED
    assert notification.recipient == admin_user
    assert notification.request == ContainerRequest.objects.get()
    assert [message.to for message in mail.outbox] == [[admin_user.email]]
    assert STRONG_PASSWORD not in mail.outbox[0].body
    assert ContainerRequest.objects.get().password_hash not in mail.outbox[0].body


def test_approval_notifies_member_after_commit(
    pending_request, admin_user, member, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        container = approve_request(pending_request.pk, admin_user, ip=CONTAINER_IP)

    notification_ids = run_queued_notifications(broker)

    notification = EmailNotification.objects.get()
    assert notification_ids == [notification.pk]
    assert notification.kind == EmailNotification.Kind.REQUEST_APPROVED
    assert notification.container == container
    assert notification.status == EmailNotification.Status.SENT
    assert [message.to for message in mail.outbox] == [[member.email]]
    assert CONTAINER_IP in mail.outbox[0].body
    assert KNOWN_HASH not in mail.outbox[0].body


@override_settings(EMAIL_BACKEND="tests.notifications.backends.UnreachableServerBackend")
def test_failing_mail_server_keeps_approval(pending_request, admin_user, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        container = approve_request(pending_request.pk, admin_user, ip=CONTAINER_IP)

    run_queued_notifications(broker)

    pending_request.refresh_from_db()
    assert pending_request.status == ContainerRequest.Status.APPROVED
    assert Container.objects.get() == container
    assert Address.objects.get().ip == CONTAINER_IP
    job = container.jobs.get()
    assert ("containers.tasks.provision_container", [job.pk]) in queued_tasks(broker)
    notification = EmailNotification.objects.get()
    assert notification.status == EmailNotification.Status.FAILED
    assert notification.attempts == MAX_ATTEMPTS
    assert mail.outbox == []


def test_rejection_notifies_member_with_reason(
    pending_request, admin_user, member, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reject_request(pending_request.pk, admin_user, "Ask for the smaller template.")

    notification = EmailNotification.objects.get()
    assert notification.kind == EmailNotification.Kind.REQUEST_REJECTED
    assert [message.to for message in mail.outbox] == [[member.email]]
    assert "Ask for the smaller template." in mail.outbox[0].body


def test_cancellation_sends_nothing(pending_request, member, celery_eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        cancel_request(pending_request.pk, member)

    assert not EmailNotification.objects.exists()
    assert mail.outbox == []


def test_finished_provisioning_notifies_ready(
    approved_container, member, celery_eager, django_capture_on_commit_callbacks
):
    # With every step done the runner goes straight to its final bookkeeping,
    # which needs no LXD.
    job = approved_container.jobs.get()
    job.steps.update(status=JobStep.Status.DONE)

    with django_capture_on_commit_callbacks(execute=True):
        run_job(job.pk, ProvisioningJob.Kind.PROVISION)

    approved_container.refresh_from_db()
    assert approved_container.status == Container.Status.READY
    notification = EmailNotification.objects.get()
    assert notification.kind == EmailNotification.Kind.CONTAINER_READY
    assert [message.to for message in mail.outbox] == [[member.email]]
    body = mail.outbox[0].body
    assert f"ssh alice@{CONTAINER_IP}" in body
    assert KNOWN_HASH not in body


def test_failed_provisioning_notifies_failure(
    approved_container, member, admin_user, celery_eager, django_capture_on_commit_callbacks
):
    # A socket path where nothing exists makes the first step fail with
    # LXDUnavailable, without contacting any LXD daemon.
    host = approved_container.host
    host.endpoint = "/nonexistent/lxd/unix.socket"
    host.save(update_fields=["endpoint"])
    job = approved_container.jobs.get()

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(LXDUnavailable):
            run_job(job.pk, ProvisioningJob.Kind.PROVISION, final_attempt=True)

    approved_container.refresh_from_db()
    assert approved_container.status == Container.Status.FAILED
    notification = EmailNotification.objects.get(recipient=member)
    assert notification.kind == EmailNotification.Kind.CONTAINER_FAILED
    admin_notification = EmailNotification.objects.get(recipient=admin_user)
    assert admin_notification.kind == EmailNotification.Kind.CONTAINER_FAILED_ADMIN
    assert [message.to for message in mail.outbox] == [[member.email], [admin_user.email]]
    assert 'failed at the step "copy the template"' in mail.outbox[0].body
    assert "/nonexistent/lxd/unix.socket" in mail.outbox[1].body
    for message in mail.outbox:
        assert KNOWN_HASH not in message.body


def test_provisioning_handed_back_sends_nothing(approved_container, celery_eager, django_capture_on_commit_callbacks):
    # Before the last attempt an unreachable LXD only puts the job back in
    # the queue; the member hears nothing until it finally fails.
    host = approved_container.host
    host.endpoint = "/nonexistent/lxd/unix.socket"
    host.save(update_fields=["endpoint"])
    job = approved_container.jobs.get()

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(LXDUnavailable):
            run_job(job.pk, ProvisioningJob.Kind.PROVISION, final_attempt=False)

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.QUEUED
    assert not EmailNotification.objects.exists()
    assert mail.outbox == []
