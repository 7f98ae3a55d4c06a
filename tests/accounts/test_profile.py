"""The member's profile page."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

URL = reverse("accounts:profile")


def test_profile_redirects_anonymous(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_profile_saves_language_and_cookie(member_client, member):
    response = member_client.post(
        URL, {"first_name": "Alice", "last_name": "Liddell", "email": "alice@example.test", "language": "zh-hans"}
    )

    member.refresh_from_db()
    assert response.status_code == 302
    assert member.language == "zh-hans"
    assert member.last_name == "Liddell"
    assert response.cookies["portal_language"].value == "zh-hans"


def test_profile_rejects_email_of_another_account(member_client, member, other_member):
    response = member_client.post(
        URL, {"first_name": "", "last_name": "", "email": "BOB@example.test", "language": "en"}
    )

    member.refresh_from_db()
    assert response.status_code == 200
    assert "An account with this e-mail address already exists." in response.content.decode()
    assert member.email == "alice@example.test"


def test_profile_cannot_make_member_staff(member_client, member):
    member_client.post(URL, {"email": "alice@example.test", "language": "en", "is_staff": "on", "is_superuser": "on"})

    member.refresh_from_db()
    assert not member.is_staff
    assert not member.is_superuser
