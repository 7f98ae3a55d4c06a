"""Language: from the browser, from the switch on every page, and remembered for the member."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SET_LANGUAGE = reverse("set_language")


def test_login_page_in_chinese_from_browser(client):
    response = client.get(reverse("accounts:login"), headers={"accept-language": "zh-Hans"})

    content = response.content.decode()
    assert '<html lang="zh-hans">' in content
    assert "实验室 GPU 门户" in content
    assert "注册账号" in content


def test_login_page_in_english_by_default(client):
    content = client.get(reverse("accounts:login")).content.decode()

    assert '<html lang="en">' in content
    assert "Lab GPU portal" in content


def test_every_page_has_language_switch(member_client):
    content = member_client.get(reverse("home")).content.decode()

    assert f'action="{SET_LANGUAGE}"' in content
    assert 'name="language" value="zh-hans"' in content
    assert 'name="language" value="en"' in content


def test_switch_sets_cookie_and_redirects_back(client):
    response = client.post(SET_LANGUAGE, {"language": "zh-hans", "next": reverse("accounts:login")})

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert response.cookies["portal_language"].value == "zh-hans"


def test_cookie_choice_beats_browser_language(client):
    client.post(SET_LANGUAGE, {"language": "zh-hans", "next": "/"})

    content = client.get(reverse("accounts:login"), headers={"accept-language": "en"}).content.decode()

    assert "注册账号" in content


def test_switch_saves_signed_in_members_choice(member_client, member):
    member_client.post(SET_LANGUAGE, {"language": "zh-hans", "next": "/"})

    member.refresh_from_db()
    assert member.language == "zh-hans"


def test_switch_ignores_unknown_language(member_client, member):
    member.language = "en"
    member.save()

    response = member_client.post(SET_LANGUAGE, {"language": "xx", "next": "/"})

    member.refresh_from_db()
    assert member.language == "en"
    assert "portal_language" not in response.cookies


def test_switch_get_changes_nothing(member_client, member):
    response = member_client.get(SET_LANGUAGE, {"language": "zh-hans", "next": "/"})

    member.refresh_from_db()
    assert member.language == ""
    assert "portal_language" not in response.cookies


def test_switch_rejects_offsite_next(client):
    response = client.post(SET_LANGUAGE, {"language": "en", "next": "https://evil.example/"})

    assert response.url == "/"
