"""Administrators get an e-mail of their own when building a container fails."""

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from containers.models import Container, JobLogLine
from notifications.models import EmailNotification
from notifications.services import MAX_ERROR_LENGTH, notify_container_failed
from tests.conftest import PASSWORD
from tests.notifications.conftest import KNOWN_HASH
from tests.notifications.test_recipients import assert_no_secret, fail_provisioning

pytestmark = pytest.mark.usefixtures("celery_eager")

MEMBER_ERROR = "The setup script exited with status 1."
TECHNICAL_ERROR = "init-container.sh: line 40: netplan apply: exit status 1"


def fail_with_detail(container: Container, detail: str, step: str = "run_script") -> None:
    """Fail the container's job at `step` the way the runner does: the member's message, and the detail in the log."""
    fail_provisioning(container, step, MEMBER_ERROR)
    JobLogLine.objects.create(job=container.jobs.get(), step=step, level=JobLogLine.Level.ERROR, message=detail)


def messages_to(user) -> list:
    return [message for message in mail.outbox if message.to == [user.email]]


def job_url(container: Container) -> str:
    return settings.PORTAL_BASE_URL + reverse("containers:job_detail", args=[container.jobs.get().pk])


def test_failure_mails_each_active_admin_with_address(
    approved_container, admin_user, django_user_model, django_capture_on_commit_callbacks
):
    django_user_model.objects.create_user(username="dave", password=PASSWORD, is_staff=True, email="")
    django_user_model.objects.create_user(
        username="erin", password=PASSWORD, is_staff=True, is_active=False, email="erin@example.test"
    )
    second_admin = django_user_model.objects.create_user(
        username="frank", password=PASSWORD, is_staff=True, email="frank@example.test"
    )
    fail_with_detail(approved_container, TECHNICAL_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    admin_notifications = EmailNotification.objects.filter(kind=EmailNotification.Kind.CONTAINER_FAILED_ADMIN)
    assert sorted(admin_notifications.values_list("recipient__username", flat=True)) == ["carol", "frank"]
    assert all(notification.container == approved_container for notification in admin_notifications)
    assert all(notification.status == EmailNotification.Status.SENT for notification in admin_notifications)
    assert len(messages_to(admin_user)) == 1
    assert len(messages_to(second_admin)) == 1
    assert len(mail.outbox) == 3


def test_admin_failure_mail_contents(approved_container, admin_user, django_capture_on_commit_callbacks):
    fail_with_detail(approved_container, TECHNICAL_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    [message] = messages_to(admin_user)
    assert message.subject == "Building the container alice-box for Alice failed"
    assert 'Building the container alice-box for Alice failed at the step "run the setup script" (run_script).' in (
        message.body
    )
    assert "Host: gpu1" in message.body
    assert f"Technical error:\n{TECHNICAL_ERROR}\n" in message.body
    assert f"Job page:\n{job_url(approved_container)}\n" in message.body
    assert "Hello carol," in message.body
    assert_no_secret(message)


def test_admin_failure_mail_in_each_admins_language(
    approved_container, admin_user, member, django_user_model, django_capture_on_commit_callbacks
):
    admin_user.language = "zh-hans"
    admin_user.save(update_fields=["language"])
    english_admin = django_user_model.objects.create_user(
        username="frank", password=PASSWORD, is_staff=True, email="frank@example.test", language="en"
    )
    fail_with_detail(approved_container, TECHNICAL_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    assert admin_user.email_notifications.get().language == "zh-hans"
    assert english_admin.email_notifications.get().language == "en"
    assert member.email_notifications.get().language == "en"
    [english_message] = messages_to(english_admin)
    assert english_message.subject == "Building the container alice-box for Alice failed"
    [chinese_message] = messages_to(admin_user)
    assert chinese_message.subject == "为 Alice 创建容器 alice-box 失败"
    assert "在“运行初始化脚本”（run_script）这一步失败" in chinese_message.body
    assert "任务页面：" in chinese_message.body
    assert "Hello" not in chinese_message.body
    # The technical error stays as the job log recorded it, whatever the language.
    assert TECHNICAL_ERROR in chinese_message.body


def test_member_failure_mail_unchanged_by_admin_mail(
    approved_container, member, admin_user, django_capture_on_commit_callbacks
):
    fail_with_detail(approved_container, TECHNICAL_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    [message] = messages_to(member)
    request_url = settings.PORTAL_BASE_URL + reverse("containers:request_detail", args=[approved_container.request_id])
    assert message.subject == "Building your container alice-box failed"
    assert message.body == (
        "Hello Alice,\n"
        "\n"
        'Building your container alice-box failed at the step "run the setup script".\n'
        "\n"
        "Error:\n"
        f"{MEMBER_ERROR}\n"
        "\n"
        "What happens next: the lab's administrators see which step failed and can retry the build from that "
        "step, so you do not need to send a new request. If you need the container soon, contact them.\n"
        "\n"
        "Your request:\n"
        f"{request_url}\n"
        "\n"
        "-- \n"
        "Lab GPU portal\n"
        f"{settings.PORTAL_BASE_URL}\n"
    )
    # The member's e-mail leaves out the technical detail and the job page.
    assert TECHNICAL_ERROR not in message.body
    assert "/manage/" not in message.body


def test_admin_failure_mail_hides_hash_in_error(approved_container, admin_user, django_capture_on_commit_callbacks):
    fail_with_detail(approved_container, f"usermod -p {KNOWN_HASH} alice: exit status 6")

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    [message] = messages_to(admin_user)
    assert "usermod -p [hidden] alice: exit status 6" in message.body
    assert_no_secret(message)
    notification = admin_user.email_notifications.get()
    assert KNOWN_HASH not in notification.body


def test_admin_failure_mail_keeps_end_of_long_error(approved_container, admin_user, django_capture_on_commit_callbacks):
    detail = "first line of the output\n" + "progress line\n" * 300 + "E: the last line names the error"
    fail_with_detail(approved_container, detail)

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    [message] = messages_to(admin_user)
    assert "E: the last line names the error" in message.body
    assert "first line of the output" not in message.body
    assert "[…]\n" in message.body
    assert len(message.body) < MAX_ERROR_LENGTH + 1000


def test_cut_error_never_leaves_part_of_hash(
    approved_container, member, admin_user, django_capture_on_commit_callbacks
):
    # Each cut falls inside the hash: the member's e-mail keeps the start of
    # the error, the administrators' the end.
    head = "x" * (MAX_ERROR_LENGTH - 40)
    tail = "y" * (MAX_ERROR_LENGTH - 40)
    fail_provisioning(approved_container, "run_script", f"{head} {KNOWN_HASH} {tail}")
    JobLogLine.objects.create(
        job=approved_container.jobs.get(),
        step="run_script",
        level=JobLogLine.Level.ERROR,
        message=f"{head} {KNOWN_HASH} {tail}",
    )

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert "[hidden]" in message.body
        assert_no_secret(message)
        assert KNOWN_HASH[:30] not in message.body
        assert KNOWN_HASH[-30:] not in message.body


def test_admin_failure_mail_without_log_uses_recorded_error(
    approved_container, admin_user, django_capture_on_commit_callbacks
):
    fail_provisioning(approved_container, "configure", "The container's resource limits could not be set.")

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    [message] = messages_to(admin_user)
    assert '"set the hostname and resource limits" (configure)' in message.body
    assert "The container's resource limits could not be set." in message.body


def test_admin_failure_mail_without_job_links_container_list(
    approved_container, admin_user, django_capture_on_commit_callbacks
):
    approved_container.jobs.all().delete()
    approved_container.transition(Container.Status.FAILED, last_error="The LXD daemon is unreachable.")

    with django_capture_on_commit_callbacks(execute=True):
        notify_container_failed(approved_container.pk)

    [message] = messages_to(admin_user)
    assert "Building the container alice-box for Alice failed.\n" in message.body
    assert "The LXD daemon is unreachable." in message.body
    assert settings.PORTAL_BASE_URL + reverse("containers:container_list") in message.body


def test_failure_without_admins_mails_only_member(
    approved_container, member, admin_user, django_capture_on_commit_callbacks
):
    admin_user.is_active = False
    admin_user.save(update_fields=["is_active"])
    fail_with_detail(approved_container, TECHNICAL_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_container_failed(approved_container.pk)

    assert [notification.kind for notification in notifications] == [EmailNotification.Kind.CONTAINER_FAILED]
    assert [message.to for message in mail.outbox] == [[member.email]]


def test_member_without_address_still_mails_admins(
    approved_container, member, admin_user, django_capture_on_commit_callbacks
):
    member.email = ""
    member.save(update_fields=["email"])
    fail_with_detail(approved_container, TECHNICAL_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_container_failed(approved_container.pk)

    assert [notification.recipient for notification in notifications] == [admin_user]
    assert [message.to for message in mail.outbox] == [[admin_user.email]]
