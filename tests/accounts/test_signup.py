"""Signing up: the account, its language, and the rules a new password must pass."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

URL = reverse("accounts:signup")
User = get_user_model()
NEW_PASSWORD = "Granite-Falcon-41-river"


@pytest.fixture
def signup_data() -> dict:
    return {
        "username": "dora",
        "email": "dora@example.test",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "language": "zh-hans",
    }


def test_signup_page_has_labelled_fields(client):
    response = client.get(URL)

    content = response.content.decode()
    assert response.status_code == 200
    for field in ("username", "email", "password1", "password2", "language"):
        assert f'for="id_{field}"' in content


def test_signup_creates_account_and_signs_in(client, signup_data):
    response = client.post(URL, signup_data)

    user = User.objects.get(username="dora")
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert user.email == "dora@example.test"
    assert user.language == "zh-hans"
    assert not user.is_staff
    assert user.check_password(NEW_PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_sets_language_cookie(client, signup_data):
    response = client.post(URL, signup_data)

    assert response.cookies["portal_language"].value == "zh-hans"


def test_signup_welcome_in_chosen_language(client, signup_data):
    response = client.post(URL, signup_data, follow=True)

    assert "欢迎，dora。你的账号已经创建好了。" in response.content.decode()


def test_signup_password_never_echoed(client, signup_data):
    signup_data["password2"] = NEW_PASSWORD + "x"

    response = client.post(URL, signup_data)

    assert response.status_code == 200
    assert NEW_PASSWORD not in response.content.decode()
    assert not User.objects.filter(username="dora").exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password1": "abc", "password2": "abc"}, "password2", "This password is too short."),
        ({"password1": "password", "password2": "password"}, "password2", "This password is too common."),
        (
            {"password1": "dora@example.test1", "password2": "dora@example.test1"},
            "password2",
            "too similar to the email",
        ),
        ({"password2": "Granite-Falcon-41-rivers"}, "password2", "The two password fields didn’t match."),
        ({"email": ""}, "email", "This field is required."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({"email": "ALICE@example.test"}, "email", "An account with this e-mail address already exists."),
        ({"username": "Alice"}, "username", "A user with that username already exists."),
        ({"username": "bad name!"}, "username", "Enter a valid username."),
        ({"language": "fr"}, "language", "Select a valid choice."),
    ],
)
def test_signup_rejects_bad_input(client, member, signup_data, changes, field, message):
    signup_data.update(changes)

    response = client.post(URL, signup_data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in error for error in errors[field]), errors
    assert User.objects.count() == 1


def test_signed_in_member_sent_home(member_client):
    response = member_client.get(URL)

    assert response.status_code == 302
    assert response.url == reverse("home")
