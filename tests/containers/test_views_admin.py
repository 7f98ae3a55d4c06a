"""The Django admin: lab configuration is editable, requests and jobs are read-only, hashes stay hidden."""

import pytest
from django.test import Client
from django.urls import reverse

from containers.services import approve_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("root-admin", "root@example.test", "Unused-Password-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", ["subnet", "host", "template"])
def test_lab_configuration_can_be_added(superuser_client, model):
    response = superuser_client.get(reverse(f"admin:containers_{model}_add"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", ["containerrequest", "container", "address", "provisioningjob", "auditentry"])
def test_records_cannot_be_added(superuser_client, model):
    response = superuser_client.get(reverse(f"admin:containers_{model}_add"))

    assert response.status_code == 403


def test_request_page_hides_password_hash(superuser_client, make_request, password_hash):
    request = make_request()

    response = superuser_client.get(reverse("admin:containers_containerrequest_change", args=[request.pk]))

    assert response.status_code == 200
    assert password_hash not in response.content.decode()
    assert "alice-box" in response.content.decode()


def test_job_page_shows_steps(superuser_client, make_request, admin_user):
    container = approve_request(make_request().pk, admin_user)
    job = container.jobs.get()

    response = superuser_client.get(reverse("admin:containers_provisioningjob_change", args=[job.pk]))

    assert response.status_code == 200
    assert "push_script" in response.content.decode()


def test_user_page_shows_language(superuser_client, member):
    response = superuser_client.get(reverse("admin:accounts_user_change", args=[member.pk]))

    assert response.status_code == 200
    assert 'name="language"' in response.content.decode()
