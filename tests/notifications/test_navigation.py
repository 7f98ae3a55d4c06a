"""The staff navigation links to the failed e-mails, with a badge counting them."""

import re

import pytest
from django.conf import settings
from django.urls import reverse

from notifications.models import EmailNotification
from notifications.templatetags.notification_tags import failed_notification_count

FAILURES_URL = reverse("notifications:failures")
BADGE = re.compile(r'<span class="badge badge-failed">(\d+)</span>')


@pytest.fixture
def make_notification(member):
    def make(status: str) -> EmailNotification:
        return EmailNotification.objects.create(
            recipient=member,
            kind=EmailNotification.Kind.REQUEST_APPROVED,
            language="en",
            subject="Your container request alice-box was approved",
            body="Hello Alice,\n",
            status=status,
        )

    return make


def failures_link(content: str) -> str:
    """Return the navigation's link to the failures page, or an empty string."""
    match = re.search(r'<a href="' + re.escape(FAILURES_URL) + r'"[^>]*>.*?</a>', content, re.DOTALL)
    return match.group(0) if match else ""


def test_staff_navigation_links_failures_page(staff_client):
    response = staff_client.get(reverse("home"))

    link = failures_link(response.content.decode())
    assert response.status_code == 200
    assert "E-mails not sent" in link
    assert "aria-current" not in link
    assert not BADGE.search(link)


def test_staff_navigation_counts_only_failed(staff_client, make_notification):
    for status in ["failed", "failed", "pending", "sent"]:
        make_notification(status)

    response = staff_client.get(reverse("containers:container_list"))

    link = failures_link(response.content.decode())
    assert BADGE.findall(link) == ["2"]


def test_failures_page_marks_its_link_current(staff_client):
    response = staff_client.get(FAILURES_URL)

    assert 'aria-current="page"' in failures_link(response.content.decode())


def test_staff_navigation_link_in_chinese(staff_client):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = staff_client.get(reverse("home"))

    link = failures_link(response.content.decode())
    assert "未发送的邮件" in link
    assert "E-mails not sent" not in link


def test_member_navigation_has_no_failures_link(member_client, make_notification):
    make_notification("failed")

    response = member_client.get(reverse("home"))

    content = response.content.decode()
    assert response.status_code == 200
    assert failures_link(content) == ""
    assert "E-mails not sent" not in content
    assert not BADGE.search(content)


def test_anonymous_login_page_has_no_failures_link(client, db):
    response = client.get(reverse("accounts:login"))

    assert response.status_code == 200
    assert failures_link(response.content.decode()) == ""


def test_failed_count_costs_one_query(make_notification, django_assert_num_queries):
    for _number in range(3):
        make_notification("failed")

    with django_assert_num_queries(1):
        count = failed_notification_count()

    assert count == 3
