"""Signing in brings back the saved language; signing out takes a POST."""

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_is_first_screen_for_anonymous(client):
    response = client.get(reverse("home"), follow=True)

    content = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(reverse("accounts:login"))
    assert 'for="id_username"' in content
    assert 'for="id_password"' in content
    assert reverse("set_language") in content


def test_login_with_saved_language_sets_cookie(client, member):
    member.language = "zh-hans"
    member.save()

    response = client.post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert response.cookies["portal_language"].value == "zh-hans"


def test_login_saves_browser_language_when_none_chosen(client, member):
    client.post(
        reverse("accounts:login"),
        {"username": "alice", "password": PASSWORD},
        headers={"accept-language": "zh-Hans"},
    )

    member.refresh_from_db()
    assert member.language == "zh-hans"


def test_login_wrong_password_shows_message(client, member):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "wrong-password"})

    content = response.content.decode()
    assert response.status_code == 200
    assert "The username or password is wrong." in content
    assert "wrong-password" not in content
    assert "_auth_user_id" not in client.session


def test_logout_get_refused(member_client):
    response = member_client.get(reverse("accounts:logout"))

    assert response.status_code == 405
    assert "_auth_user_id" in member_client.session


def test_logout_post_signs_out(member_client):
    response = member_client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert "_auth_user_id" not in member_client.session
