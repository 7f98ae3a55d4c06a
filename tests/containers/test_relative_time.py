"""Times on the pages read as relative text, with the exact time in the lab's time zone."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

TAG = Template("{% load portal_time %}{% relative_time when %}")


def render(when) -> str:
    return TAG.render(Context({"when": when}))


def test_relative_time_reads_minutes_ago_in_english():
    with translation.override("en"):
        html = render(timezone.now() - timedelta(minutes=3))

    assert "3\xa0minutes ago" in html


def test_relative_time_reads_minutes_ago_in_chinese():
    with translation.override("zh-hans"):
        html = render(timezone.now() - timedelta(minutes=3))

    assert "3分钟之前" in html


@override_settings(TIME_ZONE="Asia/Shanghai")
def test_relative_time_title_is_local_time():
    with timezone.override("Asia/Shanghai"):
        html = render(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    assert 'datetime="2026-01-02T03:04:05+00:00"' in html
    assert 'title="2026-01-02 11:04:05 CST"' in html


def test_relative_time_of_none_is_empty():
    assert render(None) == ""


@pytest.mark.django_db
def test_dashboard_shows_request_time_relative(member_client, make_request):
    request = make_request()
    type(request).objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(hours=2))

    response = member_client.get(reverse("home"), headers={"accept-language": "en"})

    assert "2\xa0hours ago" in response.content.decode()
