"""Administrators follow a job, retry a failed one, and abandon a failed container."""

import pytest
from django.conf import settings
from django.urls import reverse

from containers import provisioning_steps
from containers.models import AuditEntry, Container, JobLogLine, JobStep, ProvisioningJob
from containers.services import PROVISION_STEPS, REMOVE_STEPS, approve_request
from containers.views import display
from notifications import services as notification_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def container(make_request, admin_user) -> Container:
    return approve_request(make_request().pk, admin_user)


@pytest.fixture
def job(container) -> ProvisioningJob:
    return container.jobs.get()


@pytest.fixture
def failed_job(container, job) -> ProvisioningJob:
    """The job as the worker leaves it when step 3 (start) fails."""
    job.transition(ProvisioningJob.Status.RUNNING)
    job.transition(ProvisioningJob.Status.FAILED, last_error="Container did not start.")
    job.steps.filter(position__lt=3).update(status=JobStep.Status.DONE)
    job.steps.filter(position=3).update(status=JobStep.Status.FAILED, error="Container did not start.")
    container.transition(Container.Status.FAILED, last_error="Container did not start.")
    JobLogLine.objects.create(job=job, step="start", level=JobLogLine.Level.ERROR, message="start timed out after 60 s")
    return job


def test_job_page_shows_steps_and_log(staff_client, failed_job):
    response = staff_client.get(reverse("containers:job_detail", args=[failed_job.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Start the container" in content
    assert "Container did not start." in content
    assert "start timed out after 60 s" in content
    assert reverse("containers:retry_job", args=[failed_job.pk]) in content
    assert reverse("containers:abandon_container_confirm", args=[failed_job.container_id]) in content
    assert "data-poll-done" in content


def test_running_job_page_polls(staff_client, job):
    job.transition(ProvisioningJob.Status.RUNNING)

    response = staff_client.get(reverse("containers:job_progress", args=[job.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert "data-poll-done" not in content
    assert reverse("containers:retry_job", args=[job.pk]) not in content


@pytest.mark.parametrize("url_name", ["containers:job_detail", "containers:job_progress"])
def test_job_pages_forbidden_to_members(member_client, job, url_name):
    response = member_client.get(reverse(url_name, args=[job.pk]))

    assert response.status_code == 403


@pytest.mark.parametrize("url_name", ["containers:job_detail", "containers:job_progress"])
def test_job_pages_redirect_anonymous(client, job, url_name):
    response = client.get(reverse(url_name, args=[job.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_retry_queues_failed_job(staff_client, failed_job, admin_user):
    response = staff_client.post(reverse("containers:retry_job", args=[failed_job.pk]))

    failed_job.refresh_from_db()
    assert response.status_code == 302
    assert response.url == reverse("containers:job_detail", args=[failed_job.pk])
    assert failed_job.status == ProvisioningJob.Status.QUEUED
    assert failed_job.container.status == Container.Status.PROVISIONING
    assert failed_job.steps.get(position=3).status == JobStep.Status.PENDING
    assert failed_job.steps.get(position=2).status == JobStep.Status.DONE
    assert AuditEntry.objects.filter(action="retry", actor=admin_user).exists()


def test_retry_of_running_job_reports_error(staff_client, job):
    job.transition(ProvisioningJob.Status.RUNNING)

    response = staff_client.post(reverse("containers:retry_job", args=[job.pk]), follow=True)

    job.refresh_from_db()
    assert 'class="message error"' in response.content.decode()
    assert job.status == ProvisioningJob.Status.RUNNING
    assert not AuditEntry.objects.filter(action="retry").exists()


def test_retry_get_refused(staff_client, failed_job):
    response = staff_client.get(reverse("containers:retry_job", args=[failed_job.pk]))

    failed_job.refresh_from_db()
    assert response.status_code == 405
    assert failed_job.status == ProvisioningJob.Status.FAILED


def test_retry_by_member_forbidden(member_client, failed_job):
    response = member_client.post(reverse("containers:retry_job", args=[failed_job.pk]))

    failed_job.refresh_from_db()
    assert response.status_code == 403
    assert failed_job.status == ProvisioningJob.Status.FAILED
    assert not AuditEntry.objects.filter(action="retry").exists()


def test_retry_anonymous_redirected(client, failed_job):
    response = client.post(reverse("containers:retry_job", args=[failed_job.pk]))

    failed_job.refresh_from_db()
    assert response.status_code == 302
    assert failed_job.status == ProvisioningJob.Status.FAILED


def test_abandon_confirmation_page(staff_client, failed_job):
    container = failed_job.container

    response = staff_client.get(reverse("containers:abandon_container_confirm", args=[container.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert f'action="{reverse("containers:abandon_container", args=[container.pk])}"' in content
    assert 'method="post"' in content
    container.refresh_from_db()
    assert container.status == Container.Status.FAILED


def test_abandon_confirmation_forbidden_to_members(member_client, failed_job):
    response = member_client.get(reverse("containers:abandon_container_confirm", args=[failed_job.container_id]))

    assert response.status_code == 403


def test_abandon_queues_removal(staff_client, failed_job, admin_user):
    container = failed_job.container

    response = staff_client.post(reverse("containers:abandon_container", args=[container.pk]))

    container.refresh_from_db()
    failed_job.refresh_from_db()
    removal = container.jobs.get(kind=ProvisioningJob.Kind.REMOVE)
    assert response.status_code == 302
    assert response.url == reverse("containers:job_detail", args=[removal.pk])
    assert container.status == Container.Status.REMOVING
    assert failed_job.status == ProvisioningJob.Status.ABANDONED
    assert removal.status == ProvisioningJob.Status.QUEUED
    assert AuditEntry.objects.filter(action="abandon", actor=admin_user, container=container).exists()


def test_abandon_of_provisioning_container_reports_error(staff_client, container):
    response = staff_client.post(reverse("containers:abandon_container", args=[container.pk]), follow=True)

    container.refresh_from_db()
    assert "Only a failed container can be abandoned." in response.content.decode()
    assert container.status == Container.Status.PROVISIONING


def test_abandon_get_refused(staff_client, failed_job):
    response = staff_client.get(reverse("containers:abandon_container", args=[failed_job.container_id]))

    assert response.status_code == 405
    assert Container.objects.get().status == Container.Status.FAILED


def test_abandon_by_member_forbidden(member_client, failed_job):
    response = member_client.post(reverse("containers:abandon_container", args=[failed_job.container_id]))

    assert response.status_code == 403
    assert Container.objects.get().status == Container.Status.FAILED
    assert not ProvisioningJob.objects.filter(kind=ProvisioningJob.Kind.REMOVE).exists()


def test_abandon_anonymous_redirected(client, failed_job):
    response = client.post(reverse("containers:abandon_container", args=[failed_job.container_id]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert Container.objects.get().status == Container.Status.FAILED


@pytest.fixture
def removal_job(staff_client, failed_job) -> ProvisioningJob:
    """The removal job that abandoning the failed container queues."""
    staff_client.post(reverse("containers:abandon_container", args=[failed_job.container_id]))
    return failed_job.container.jobs.get(kind=ProvisioningJob.Kind.REMOVE)


def test_removal_job_page_shows_step_labels(staff_client, removal_job):
    response = staff_client.get(reverse("containers:job_detail", args=[removal_job.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert [step.name for step in response.context["steps"]] == ["delete", "release"]
    assert "Delete the container" in content
    assert "Release the IP address" in content


def test_removal_job_page_shows_chinese_step_labels(staff_client, removal_job):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = staff_client.get(reverse("containers:job_detail", args=[removal_job.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "删除容器" in content
    assert "释放 IP 地址" in content
    assert "Delete the container" not in content


@pytest.mark.parametrize("labels", [display.STEP_LABELS, notification_services.STEP_LABELS], ids=["pages", "e-mails"])
def test_every_job_step_has_label(labels):
    steps = set(PROVISION_STEPS) | set(REMOVE_STEPS)

    assert steps == set(provisioning_steps.PROVISION) | set(provisioning_steps.REMOVE)
    assert steps - set(labels) == set()
