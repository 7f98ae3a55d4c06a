"""Administrators remove a ready container: the service, its pages and their guards."""

import pytest
from django.urls import reverse

from containers.errors import ServiceError
from containers.models import Address, AuditEntry, Container, ProvisioningJob
from containers.services import approve_request, remove_container
from tests.containers.test_approval import queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def container(make_request, admin_user) -> Container:
    return approve_request(make_request().pk, admin_user)


@pytest.fixture
def ready_container(container) -> Container:
    """The container as the worker leaves it after a successful build."""
    job = container.jobs.get()
    job.transition(ProvisioningJob.Status.RUNNING)
    job.transition(ProvisioningJob.Status.SUCCEEDED)
    container.transition(Container.Status.READY)
    return container


def removal_jobs():
    return ProvisioningJob.objects.filter(kind=ProvisioningJob.Kind.REMOVE)


def test_service_queues_removal_after_commit(ready_container, admin_user, broker, django_capture_on_commit_callbacks):
    broker.delete("portal")

    with django_capture_on_commit_callbacks() as callbacks:
        job = remove_container(ready_container.pk, admin_user)
        assert queued_tasks(broker) == []
    for callback in callbacks:
        callback()

    ready_container.refresh_from_db()
    provision = ready_container.jobs.get(kind=ProvisioningJob.Kind.PROVISION)
    assert ready_container.status == Container.Status.REMOVING
    assert job.kind == ProvisioningJob.Kind.REMOVE
    assert job.status == ProvisioningJob.Status.QUEUED
    assert list(job.steps.order_by("position").values_list("name", flat=True)) == ["delete", "release"]
    assert provision.status == ProvisioningJob.Status.SUCCEEDED
    assert AuditEntry.objects.filter(
        action="remove", actor=admin_user, container=ready_container, detail=f"job {job.pk}"
    ).exists()
    assert queued_tasks(broker) == [("containers.tasks.remove_container", [job.pk])]


@pytest.mark.parametrize(
    "status",
    [Container.Status.PROVISIONING, Container.Status.FAILED, Container.Status.REMOVING, Container.Status.REMOVED],
)
def test_service_rejects_container_not_ready(container, admin_user, status):
    Container.objects.filter(pk=container.pk).update(status=status)

    with pytest.raises(ServiceError, match="Only a ready container can be removed"):
        remove_container(container.pk, admin_user)

    assert Container.objects.get(pk=container.pk).status == status
    assert not removal_jobs().exists()
    assert not AuditEntry.objects.filter(action="remove").exists()


def test_confirm_page_warns_about_data(staff_client, ready_container):
    address = Address.objects.get(container=ready_container)

    response = staff_client.get(reverse("containers:remove_container_confirm", args=[ready_container.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "together with all the data in it" in content
    assert ready_container.name in content
    assert ready_container.owner.username in content
    assert address.ip in content
    assert f'action="{reverse("containers:remove_container", args=[ready_container.pk])}"' in content
    assert 'method="post"' in content
    ready_container.refresh_from_db()
    assert ready_container.status == Container.Status.READY


def test_confirm_page_of_container_not_ready_has_no_form(staff_client, container):
    response = staff_client.get(reverse("containers:remove_container_confirm", args=[container.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Only a ready container can be removed" in content
    assert f'action="{reverse("containers:remove_container", args=[container.pk])}"' not in content


def test_confirm_page_forbidden_to_members(member_client, ready_container):
    response = member_client.get(reverse("containers:remove_container_confirm", args=[ready_container.pk]))

    assert response.status_code == 403


def test_container_list_links_remove_for_ready_only(staff_client, ready_container, make_request, admin_user):
    provisioning = approve_request(make_request(name="other-box").pk, admin_user)

    content = staff_client.get(reverse("containers:container_list")).content.decode()

    assert reverse("containers:remove_container_confirm", args=[ready_container.pk]) in content
    assert reverse("containers:remove_container_confirm", args=[provisioning.pk]) not in content


def test_request_page_links_remove_for_staff(staff_client, member_client, ready_container):
    url = reverse("containers:request_detail", args=[ready_container.request_id])
    confirm_url = reverse("containers:remove_container_confirm", args=[ready_container.pk])

    assert confirm_url in staff_client.get(url).content.decode()
    assert confirm_url not in member_client.get(url).content.decode()


def test_remove_view_queues_removal(staff_client, ready_container, admin_user):
    response = staff_client.post(reverse("containers:remove_container", args=[ready_container.pk]))

    ready_container.refresh_from_db()
    removal = removal_jobs().get(container=ready_container)
    assert response.status_code == 302
    assert response.url == reverse("containers:job_detail", args=[removal.pk])
    assert ready_container.status == Container.Status.REMOVING
    assert removal.status == ProvisioningJob.Status.QUEUED
    assert AuditEntry.objects.filter(action="remove", actor=admin_user, container=ready_container).exists()


def test_remove_view_of_container_not_ready_reports_error(staff_client, container):
    response = staff_client.post(reverse("containers:remove_container", args=[container.pk]), follow=True)

    container.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse("containers:container_list")
    assert "Only a ready container can be removed." in response.content.decode()
    assert container.status == Container.Status.PROVISIONING
    assert not removal_jobs().exists()


def test_remove_view_get_refused(staff_client, ready_container):
    response = staff_client.get(reverse("containers:remove_container", args=[ready_container.pk]))

    assert response.status_code == 405
    assert Container.objects.get().status == Container.Status.READY
    assert not removal_jobs().exists()


def test_remove_view_by_member_forbidden(member_client, ready_container):
    response = member_client.post(reverse("containers:remove_container", args=[ready_container.pk]))

    assert response.status_code == 403
    assert Container.objects.get().status == Container.Status.READY
    assert not removal_jobs().exists()


def test_remove_view_anonymous_redirected(client, ready_container):
    response = client.post(reverse("containers:remove_container", args=[ready_container.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert Container.objects.get().status == Container.Status.READY
    assert not removal_jobs().exists()
