"""The 403, 404 and 500 pages: the portal's layout, the reader's language, no traceback."""

import pytest
from django.test import override_settings
from django.urls import include, path, reverse

pytestmark = pytest.mark.django_db


def failing_view(request):
    raise RuntimeError("secret detail from a failing view")


urlpatterns = [
    path("failing/", failing_view),
    path("", include("portal.urls")),
]


def test_404_page_in_portal_style(member_client):
    response = member_client.get("/no-such-page/")

    content = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in content
    assert 'href="/static/css/portal.css"' in content
    assert reverse("set_language") in content


def test_404_page_in_chinese(member_client):
    response = member_client.get("/no-such-page/", headers={"accept-language": "zh-Hans"})

    assert "页面不存在" in response.content.decode()


def test_403_page_for_member_on_staff_page(member_client):
    response = member_client.get(reverse("containers:subnet_list"), headers={"accept-language": "zh-Hans"})

    content = response.content.decode()
    assert response.status_code == 403
    assert "你无权打开此页面" in content


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_500_page_without_traceback(client):
    client.raise_request_exception = False

    response = client.get("/failing/", headers={"accept-language": "zh-Hans"})

    content = response.content.decode()
    assert response.status_code == 500
    assert "出错了" in content
    assert "secret detail" not in content
    assert "Traceback" not in content
    assert "RuntimeError" not in content
