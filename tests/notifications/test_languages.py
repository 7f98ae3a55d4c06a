"""Each e-mail is written in its recipient's language, whatever language the sender's page used.

The Chinese texts come from the project's catalog (locale/zh_Hans), so these
tests fail for any notification string that the catalog does not translate.
"""

import re

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import translation

from containers.models import Container, ContainerRequest
from notifications.services import (
    notify_container_failed,
    notify_container_ready,
    notify_request_approved,
    notify_request_rejected,
    notify_request_submitted,
)
from tests.conftest import PASSWORD
from tests.notifications.conftest import CONTAINER_IP
from tests.notifications.test_recipients import fail_provisioning

pytestmark = pytest.mark.usefixtures("celery_eager")

CJK = re.compile(r"[\u4e00-\u9fff]")


def approve(container: Container) -> None:
    notify_request_approved(container.request_id)


def reject(container: Container) -> None:
    request = container.request
    ContainerRequest.objects.filter(pk=request.pk).update(
        status=ContainerRequest.Status.REJECTED, rejection_reason="没有空闲的 GPU。"
    )
    notify_request_rejected(request.pk)


def report_ready(container: Container) -> None:
    container.transition(Container.Status.READY)
    notify_container_ready(container.pk)


def report_failure(container: Container) -> None:
    fail_provisioning(container, "run_script", "The setup script exited with status 1.")
    notify_container_failed(container.pk)


MEMBER_EVENTS = [
    pytest.param(approve, "Your container request alice-box was approved", id="approved"),
    pytest.param(reject, "Your container request alice-box was rejected", id="rejected"),
    pytest.param(report_ready, "Your container alice-box is ready", id="ready"),
    pytest.param(report_failure, "Building your container alice-box failed", id="failed"),
]


@pytest.mark.parametrize(("event", "english_subject"), MEMBER_EVENTS)
def test_chinese_member_gets_chinese_email(
    event, english_subject, approved_container, chinese_member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event(approved_container)

    # A failure also mails the administrators, in their own language.
    member_messages = [message for message in mail.outbox if message.to == [chinese_member.email]]
    assert len(member_messages) == 1
    message = member_messages[0]
    assert CJK.search(message.subject), message.subject
    assert "alice-box" in message.subject
    assert message.subject != english_subject
    assert CJK.search(message.body)
    assert "Hello" not in message.body
    assert chinese_member.email_notifications.get().language == "zh-hans"


@pytest.mark.parametrize(("event", "english_subject"), MEMBER_EVENTS)
def test_english_member_gets_english_from_chinese_page(
    event, english_subject, approved_container, member, django_capture_on_commit_callbacks
):
    member.language = "en"
    member.save(update_fields=["language"])

    # An administrator whose portal page is in Chinese makes the change.
    with translation.override("zh-hans"), django_capture_on_commit_callbacks(execute=True):
        event(approved_container)

    assert mail.outbox[0].subject == english_subject
    assert not CJK.search(mail.outbox[0].body.replace("没有空闲的 GPU。", ""))


def test_chinese_ready_email_keeps_ssh_command(approved_container, chinese_member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report_ready(approved_container)

    body = mail.outbox[0].body
    assert CONTAINER_IP in body
    assert f"ssh alice@{CONTAINER_IP}" in body


def test_each_admin_gets_new_request_in_own_language(
    pending_request, admin_user, django_user_model, django_capture_on_commit_callbacks
):
    admin_user.language = "zh-hans"
    admin_user.save(update_fields=["language"])
    django_user_model.objects.create_user(
        username="frank", password=PASSWORD, is_staff=True, email="frank@example.test", language="en"
    )

    with django_capture_on_commit_callbacks(execute=True):
        notify_request_submitted(pending_request.pk)

    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert CJK.search(subjects["carol@example.test"])
    assert subjects["frank@example.test"] == "New container request alice-box from Alice"


@override_settings(LANGUAGE_CODE="zh-hans")
def test_blank_language_uses_site_default(approved_container, member, django_capture_on_commit_callbacks):
    assert member.language == ""

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify_request_approved(approved_container.request_id)[0]

    assert notification.language == "zh-hans"
    assert CJK.search(mail.outbox[0].subject)


def test_rendering_restores_active_language(approved_container, chinese_member, django_capture_on_commit_callbacks):
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        notify_request_approved(approved_container.request_id)

        assert translation.get_language() == "en"
