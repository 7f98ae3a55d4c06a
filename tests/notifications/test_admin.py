"""The e-mail notifications in Django's admin: read-only, with a "send again" action."""

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from notifications.models import EmailNotification
from notifications.services import notify_request_approved
from notifications.tasks import send_notification
from tests.conftest import PASSWORD

CHANGELIST_URL = reverse("admin:notifications_emailnotification_changelist")


@pytest.fixture
def superuser_client(django_user_model) -> Client:
    superuser = django_user_model.objects.create_superuser(
        username="root", password=PASSWORD, email="root@example.test"
    )
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def failed_notification(approved_container, django_capture_on_commit_callbacks) -> EmailNotification:
    with django_capture_on_commit_callbacks(execute=False):
        notification = notify_request_approved(approved_container.request_id)[0]
    with override_settings(EMAIL_BACKEND="tests.notifications.backends.UnreachableServerBackend"):
        send_notification.apply(args=[notification.pk])
    return notification


def test_admin_lists_notifications(superuser_client, failed_notification):
    response = superuser_client.get(CHANGELIST_URL, {"status__exact": "failed"})

    assert response.status_code == 200
    assert failed_notification.subject in response.content.decode()


def test_admin_shows_notification_read_only(superuser_client, failed_notification):
    url = reverse("admin:notifications_emailnotification_change", args=[failed_notification.pk])

    response = superuser_client.post(url, {"subject": "changed"})

    assert response.status_code == 403
    failed_notification.refresh_from_db()
    assert failed_notification.subject != "changed"
    assert superuser_client.get(url).status_code == 200


def test_admin_action_sends_failed_notifications_again(
    superuser_client, failed_notification, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            CHANGELIST_URL, {"action": "send_again", "_selected_action": [failed_notification.pk]}
        )

    assert response.status_code == 302
    failed_notification.refresh_from_db()
    assert failed_notification.status == EmailNotification.Status.SENT
    assert len(mail.outbox) == 1


def test_admin_refuses_staff_without_permission(staff_client, failed_notification):
    response = staff_client.get(CHANGELIST_URL)

    assert response.status_code == 403
