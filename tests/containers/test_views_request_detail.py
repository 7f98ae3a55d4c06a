"""The member's request page and its polled progress fragment, in every state."""

import pytest
from django.urls import reverse
from django.utils import timezone

from containers.models import Container, ContainerRequest, JobStep, ProvisioningJob
from containers.services import approve_request, reject_request

pytestmark = pytest.mark.django_db


def detail_url(request) -> str:
    return reverse("containers:request_detail", args=[request.pk])


def progress_url(request) -> str:
    return reverse("containers:request_progress", args=[request.pk])


def job_of(container: Container) -> ProvisioningJob:
    return container.jobs.get(kind=ProvisioningJob.Kind.PROVISION)


def mark_steps(job: ProvisioningJob, done: int, running: bool = False, failed: str = "") -> None:
    """Set the first `done` steps to done and the next one to running or failed, as the worker would."""
    steps = list(job.steps.order_by("position"))
    for step in steps[:done]:
        step.status = JobStep.Status.DONE
        step.save()
    if len(steps) > done and (running or failed):
        step = steps[done]
        step.status = JobStep.Status.FAILED if failed else JobStep.Status.RUNNING
        step.error = failed
        step.save()


def test_pending_request_shows_cancel_button_and_polls(member_client, make_request):
    request = make_request()

    response = member_client.get(detail_url(request))

    content = response.content.decode()
    assert response.status_code == 200
    assert "waiting for an administrator" in content
    assert reverse("containers:request_cancel", args=[request.pk]) in content
    assert f'data-poll-url="{progress_url(request)}"' in content
    assert "data-poll-done" not in content


def test_rejected_request_shows_reason_and_stops_polling(member_client, make_request, admin_user):
    request = make_request()
    reject_request(request.pk, admin_user, "Please use the shared CPU server for this.")

    response = member_client.get(detail_url(request))

    content = response.content.decode()
    assert "Please use the shared CPU server for this." in content
    assert 'class="badge badge-rejected"' in content
    assert "data-poll-done" in content
    assert reverse("containers:request_cancel", args=[request.pk]) not in content


def test_provisioning_shows_steps_done_so_far(member_client, make_request, admin_user):
    container = approve_request(make_request().pk, admin_user)
    mark_steps(job_of(container), done=2, running=True)

    response = member_client.get(progress_url(container.request))

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert "Copy the template" in content
    assert 'class="step-done"' in content
    assert content.count('class="step-done"') == 2
    assert content.count('class="step-running"') == 1
    assert "data-poll-done" not in content


def test_ready_shows_ssh_command_and_stops_polling(member_client, make_request, admin_user):
    container = approve_request(make_request().pk, admin_user)
    container.transition(Container.Status.READY, ready_at=timezone.now())

    response = member_client.get(detail_url(container.request))

    content = response.content.decode()
    ip = container.address.ip
    assert f"ssh alice@{ip}" in content
    assert 'data-copy-target="ssh-command"' in content
    assert 'class="badge badge-ready"' in content
    assert "data-poll-done" in content
    assert reverse("gpus:container_gpu", args=[container.pk]) in content


def test_failed_shows_step_in_plain_words(member_client, make_request, admin_user):
    container = approve_request(make_request().pk, admin_user)
    mark_steps(job_of(container), done=5, failed="LXDError: instance exec returned 1: useradd: group exists")
    container.transition(Container.Status.FAILED, last_error="useradd: group exists")

    response = member_client.get(detail_url(container.request))

    content = response.content.decode()
    assert "Building your container stopped at the step" in content
    assert "Restart the container" in content
    assert "administrators see this failure in the portal" in content
    assert "useradd" not in content
    assert "data-poll-done" in content


def test_failed_step_error_shown_to_administrators(staff_client, make_request, admin_user):
    container = approve_request(make_request().pk, admin_user)
    mark_steps(job_of(container), done=5, failed="useradd: group exists")
    container.transition(Container.Status.FAILED, last_error="useradd: group exists")

    response = staff_client.get(detail_url(container.request))

    content = response.content.decode()
    assert "useradd: group exists" in content
    assert reverse("containers:job_detail", args=[job_of(container).pk]) in content


def test_cancelled_request_says_nothing_was_built(member_client, make_request):
    request = make_request(status=ContainerRequest.Status.CANCELLED)

    response = member_client.get(detail_url(request))

    assert "You withdrew this request. Nothing was built." in response.content.decode()


@pytest.mark.parametrize("url_name", ["containers:request_detail", "containers:request_progress"])
def test_other_member_gets_404(other_member_client, make_request, url_name):
    request = make_request()

    response = other_member_client.get(reverse(url_name, args=[request.pk]))

    assert response.status_code == 404


@pytest.mark.parametrize("url_name", ["containers:request_detail", "containers:request_progress"])
def test_anonymous_redirected_to_login(client, make_request, url_name):
    request = make_request()

    response = client.get(reverse(url_name, args=[request.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_administrator_sees_any_request(staff_client, make_request):
    request = make_request()

    response = staff_client.get(detail_url(request))

    assert response.status_code == 200
    assert "alice" in response.content.decode()


def test_missing_request_gets_404(member_client):
    response = member_client.get(reverse("containers:request_detail", args=[999_999]))

    assert response.status_code == 404
