"""Fixtures shared by every test module: the personas of the portal.

- `member`: a lab member with a request of their own.
- `other_member`: another member, who must not see or change the first one's things.
- `admin_user`: a lab administrator (Django staff).
- anonymous: the plain `client` fixture, not signed in.
"""

import pytest
from django.test import Client

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user(
        username="alice", password=PASSWORD, email="alice@example.test", first_name="Alice"
    )


@pytest.fixture
def other_member(django_user_model):
    return django_user_model.objects.create_user(username="bob", password=PASSWORD, email="bob@example.test")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_user(
        username="carol", password=PASSWORD, email="carol@example.test", is_staff=True
    )


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def other_member_client(other_member) -> Client:
    client = Client()
    client.force_login(other_member)
    return client


@pytest.fixture
def staff_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client
