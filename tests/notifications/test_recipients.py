"""Who gets which e-mail, and what the English e-mails contain."""

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction

from containers.models import Container, JobStep, ProvisioningJob
from notifications.models import EmailNotification
from notifications.services import (
    notify_container_failed,
    notify_container_ready,
    notify_request_approved,
    notify_request_rejected,
    notify_request_submitted,
)
from tests.conftest import PASSWORD
from tests.notifications.conftest import CONTAINER_IP, KNOWN_HASH, KNOWN_PASSWORD

pytestmark = pytest.mark.usefixtures("celery_eager")


def fail_provisioning(container: Container, step_name: str, error: str) -> None:
    job = container.jobs.get()
    job.steps.filter(name=step_name).update(status=JobStep.Status.FAILED, error=error)
    job.transition(ProvisioningJob.Status.RUNNING)
    job.transition(ProvisioningJob.Status.FAILED, last_error=error)
    container.transition(Container.Status.FAILED, last_error=error)


def assert_no_secret(message) -> None:
    for text in (message.subject, message.body):
        assert KNOWN_HASH not in text
        assert KNOWN_PASSWORD not in text
        # The salt and the digest each give the hash away on their own.
        for part in KNOWN_HASH.split("$")[3:]:
            assert part not in text


def test_new_request_mails_active_admins_with_address(
    pending_request, admin_user, other_member, django_user_model, django_capture_on_commit_callbacks
):
    django_user_model.objects.create_user(username="dave", password=PASSWORD, is_staff=True, email="")
    django_user_model.objects.create_user(
        username="erin", password=PASSWORD, is_staff=True, is_active=False, email="erin@example.test"
    )
    second_admin = django_user_model.objects.create_user(
        username="frank", password=PASSWORD, is_staff=True, email="frank@example.test"
    )

    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_request_submitted(pending_request.pk)

    assert len(notifications) == 2
    assert sorted(message.to[0] for message in mail.outbox) == [admin_user.email, second_admin.email]
    message = mail.outbox[0]
    assert message.subject == "New container request alice-box from Alice"
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "Alice requests a new container named alice-box." in message.body
    assert "Training a model for my thesis." in message.body
    assert "Login username: alice" in message.body
    assert settings.PORTAL_BASE_URL in message.body
    assert_no_secret(message)


def test_new_request_without_admins_sends_nothing(pending_request, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_request_submitted(pending_request.pk)

    assert notifications == []
    assert mail.outbox == []


def test_approval_mails_member_with_address(approved_container, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify_request_approved(approved_container.request_id)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.email]
    assert message.subject == "Your container request alice-box was approved"
    assert "Hello Alice," in message.body
    assert f"Its IP address will be {CONTAINER_IP}." in message.body
    assert "You will get another e-mail when it is ready." in message.body
    assert_no_secret(message)


def test_rejection_mails_member_with_reason(pending_request, member, admin_user, django_capture_on_commit_callbacks):
    reason = "Ask for the larger template & give the project name."
    pending_request.transition(pending_request.Status.REJECTED, decided_by=admin_user, rejection_reason=reason)

    with django_capture_on_commit_callbacks(execute=True):
        notify_request_rejected(pending_request.pk)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.email]
    assert message.subject == "Your container request alice-box was rejected"
    # Plain text: the ampersand must not become &amp;.
    assert reason in message.body
    assert "You can send a new request" in message.body
    assert_no_secret(message)


def test_ready_mail_gives_ip_username_and_ssh_command(approved_container, member, django_capture_on_commit_callbacks):
    approved_container.transition(Container.Status.READY)

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_ready(approved_container.pk)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.email]
    assert message.subject == "Your container alice-box is ready"
    assert f"IP address: {CONTAINER_IP}" in message.body
    assert "Username: alice" in message.body
    assert f"ssh alice@{CONTAINER_IP}" in message.body


def test_ready_mail_never_contains_password_or_hash(approved_container, django_capture_on_commit_callbacks):
    # The request still contains the hash here, as it does until provisioning clears it.
    assert approved_container.request.password_hash == KNOWN_HASH

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify_container_ready(approved_container.pk)[0]

    assert_no_secret(mail.outbox[0])
    notification.refresh_from_db()
    assert KNOWN_HASH not in notification.body
    assert KNOWN_HASH not in notification.subject


def test_failure_mail_names_step_error_and_next_step(approved_container, member, django_capture_on_commit_callbacks):
    fail_provisioning(approved_container, "run_script", "The setup script exited with status 1: netplan apply failed.")

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    member_messages = [message for message in mail.outbox if message.to == [member.email]]
    assert len(member_messages) == 1
    message = member_messages[0]
    assert message.subject == "Building your container alice-box failed"
    assert 'failed at the step "run the setup script"' in message.body
    assert "netplan apply failed." in message.body
    assert "retry the build from that step" in message.body
    assert "you do not need to send a new request" in message.body
    assert_no_secret(message)


def test_failure_mail_hides_hash_quoted_in_error(approved_container, django_capture_on_commit_callbacks):
    fail_provisioning(approved_container, "run_script", f"usermod -p {KNOWN_HASH} alice: exit status 6")

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    message = mail.outbox[0]
    assert "usermod -p [hidden] alice" in message.body
    assert KNOWN_HASH not in message.body


def test_failure_mail_without_failed_step_uses_container_error(approved_container, django_capture_on_commit_callbacks):
    approved_container.transition(Container.Status.FAILED, last_error="The LXD daemon is unreachable.")

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    body = mail.outbox[0].body
    assert "Building your container alice-box failed." in body
    assert "The LXD daemon is unreachable." in body


def test_member_without_address_gets_no_notification(approved_container, member, django_capture_on_commit_callbacks):
    member.email = ""
    member.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_request_approved(approved_container.request_id)

    assert notifications == []
    assert not EmailNotification.objects.exists()
    assert mail.outbox == []


def test_unknown_ids_create_nothing(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        results = [
            notify_request_submitted(999_999),
            notify_request_approved(999_999),
            notify_request_rejected(999_999),
            notify_container_ready(999_999),
            notify_container_failed(999_999),
        ]

    assert results == [[], [], [], [], []]
    assert not EmailNotification.objects.exists()


def test_notification_row_records_what_was_sent(approved_container, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify_request_approved(approved_container.request_id)[0]

    notification.refresh_from_db()
    assert notification.recipient == member
    assert notification.kind == EmailNotification.Kind.REQUEST_APPROVED
    assert notification.request_id == approved_container.request_id
    assert notification.container == approved_container
    assert notification.language == "en"
    assert notification.subject == mail.outbox[0].subject
    assert notification.body == mail.outbox[0].body
    assert notification.status == EmailNotification.Status.SENT
    assert notification.attempts == 1
    assert notification.sent_at is not None


def test_rolled_back_change_sends_nothing(approved_container, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            notify_request_approved(approved_container.request_id)
            raise RuntimeError("the approval failed after the notification was created")

    assert callbacks == []
    assert not EmailNotification.objects.exists()
    assert mail.outbox == []


def test_notification_waits_for_commit(approved_container, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = notify_request_approved(approved_container.request_id)[0]

    assert len(callbacks) == 1
    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.status == EmailNotification.Status.PENDING
