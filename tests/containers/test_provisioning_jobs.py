"""Claiming, handing back, requeueing, retrying and abandoning jobs: the database side.

None of these tests reaches a container. Where LXD must be unreachable, the
host points at a socket path that does not exist, which is what LXDHost
reports as LXDUnavailable.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from containers import provisioning, tasks
from containers.errors import ServiceError
from containers.models import AuditEntry, Container, JobLogLine, JobStep, ProvisioningJob
from containers.services import abandon_container, approve_request, retry_job
from hostops.lxd import LXDUnavailable
from tests.containers.test_approval import queued_tasks

pytestmark = pytest.mark.django_db

STALE = timedelta(seconds=settings.PROVISIONING_LEASE_SECONDS + 60)


@pytest.fixture
def job(make_request, admin_user) -> ProvisioningJob:
    return approve_request(make_request().pk, admin_user).jobs.get()


@pytest.fixture
def unreachable_host(host):
    host.endpoint = "/nonexistent/lxd/unix.socket"
    host.save()
    return host


def make_running(job: ProvisioningJob, heartbeat_age: timedelta, done: int = 0) -> None:
    """Put the job where a worker left it: running, `done` steps finished, the next one running."""
    ProvisioningJob.objects.filter(pk=job.pk).update(
        status=ProvisioningJob.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - heartbeat_age,
        started_at=timezone.now() - heartbeat_age,
    )
    job.steps.filter(position__lte=done).update(status=JobStep.Status.DONE)
    job.steps.filter(position=done + 1).update(status=JobStep.Status.RUNNING)


def make_failed(job: ProvisioningJob, failed_step: str = "run_script") -> None:
    position = job.steps.get(name=failed_step).position
    ProvisioningJob.objects.filter(pk=job.pk).update(status=ProvisioningJob.Status.FAILED, last_error="Broken.")
    job.steps.filter(position__lt=position).update(status=JobStep.Status.DONE)
    job.steps.filter(position=position).update(status=JobStep.Status.FAILED, error="Broken.")
    Container.objects.filter(pk=job.container_id).update(status=Container.Status.FAILED, last_error="Broken.")


def test_task_for_missing_job_does_nothing():
    assert tasks.provision_container(987654) is None
    assert tasks.remove_container(987654) is None


def test_redelivered_message_while_worker_alive_does_nothing(job, unreachable_host):
    make_running(job, heartbeat_age=timedelta(seconds=5), done=3)
    before = ProvisioningJob.objects.get(pk=job.pk)

    tasks.provision_container(job.pk)

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.RUNNING
    assert job.attempts == 1
    assert job.heartbeat_at == before.heartbeat_at
    assert job.steps.get(position=4).status == JobStep.Status.RUNNING


def test_finished_job_is_not_run_again(job, unreachable_host):
    ProvisioningJob.objects.filter(pk=job.pk).update(status=ProvisioningJob.Status.SUCCEEDED, attempts=1)

    tasks.provision_container(job.pk)

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.SUCCEEDED
    assert job.attempts == 1


def test_provision_task_ignores_removal_job(job, admin_user, unreachable_host):
    make_failed(job)
    abandon_container(job.container_id, admin_user)
    removal = ProvisioningJob.objects.get(kind=ProvisioningJob.Kind.REMOVE)

    tasks.provision_container(removal.pk)

    removal.refresh_from_db()
    assert removal.status == ProvisioningJob.Status.QUEUED
    assert removal.attempts == 0


def test_stale_job_resumes_at_unfinished_step(job, unreachable_host):
    make_running(job, heartbeat_age=STALE, done=3)

    # LXD is unreachable, so the takeover stops at the first step it runs,
    # which shows where it resumed.
    with pytest.raises(LXDUnavailable):
        tasks.provision_container(job.pk)

    job.refresh_from_db()
    assert job.attempts == 2
    assert job.steps.get(position=3).status == JobStep.Status.DONE
    assert job.log_lines.filter(step="push_script", level=JobLogLine.Level.WARNING).exists()
    assert not job.log_lines.filter(step="copy").exists()


def test_unreachable_lxd_hands_job_back_for_retry(job, unreachable_host):
    with pytest.raises(LXDUnavailable):
        tasks.provision_container(job.pk)

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.QUEUED
    assert job.heartbeat_at is None
    assert set(job.steps.values_list("status", flat=True)) == {JobStep.Status.PENDING}
    assert Container.objects.get(pk=job.container_id).status == Container.Status.PROVISIONING
    warning = job.log_lines.get(level=JobLogLine.Level.WARNING)
    assert "does not exist" in warning.message


def test_unreachable_lxd_on_final_attempt_fails_job(job, unreachable_host):
    with pytest.raises(LXDUnavailable):
        provisioning.run_job(job.pk, ProvisioningJob.Kind.PROVISION, final_attempt=True)

    job.refresh_from_db()
    container = Container.objects.get(pk=job.container_id)
    assert job.status == ProvisioningJob.Status.FAILED
    assert container.status == Container.Status.FAILED
    assert container.last_error.startswith("The new container could not be copied from the template.")
    assert job.steps.get(name="copy").status == JobStep.Status.FAILED


def test_failure_message_uses_owner_language(job, unreachable_host, member):
    member.language = "zh-hans"
    member.save()

    with pytest.raises(LXDUnavailable):
        provisioning.run_job(job.pk, ProvisioningJob.Kind.PROVISION, final_attempt=True)

    from django.utils import translation

    with translation.override("zh-hans"):
        expected = str(provisioning.STEP_FAILURES["copy"])
    assert Container.objects.get(pk=job.container_id).last_error.startswith(expected)


def test_resume_stale_jobs_requeues_only_stale_running_jobs(
    make_request, admin_user, broker, django_capture_on_commit_callbacks
):
    stale, fresh, queued = (
        approve_request(make_request(name=f"box-{n}", username=f"user{n}").pk, admin_user).jobs.get() for n in range(3)
    )
    make_running(stale, heartbeat_age=STALE, done=2)
    make_running(fresh, heartbeat_age=timedelta(seconds=1), done=2)
    broker.delete("portal")

    with django_capture_on_commit_callbacks(execute=True):
        requeued = tasks.resume_stale_jobs()

    assert requeued == [stale.pk]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    queued.refresh_from_db()
    assert stale.status == ProvisioningJob.Status.QUEUED
    assert stale.steps.get(position=3).status == JobStep.Status.PENDING
    assert stale.steps.get(position=2).status == JobStep.Status.DONE
    assert fresh.status == ProvisioningJob.Status.RUNNING
    assert queued.status == ProvisioningJob.Status.QUEUED
    assert queued_tasks(broker) == [("containers.tasks.provision_container", [stale.pk])]


def test_retry_queues_failed_job_and_resets_failed_step(job, admin_user, broker, django_capture_on_commit_callbacks):
    make_failed(job, "run_script")
    broker.delete("portal")

    with django_capture_on_commit_callbacks(execute=True):
        retry_job(job.pk, admin_user)

    job.refresh_from_db()
    container = Container.objects.get(pk=job.container_id)
    assert job.status == ProvisioningJob.Status.QUEUED
    assert job.last_error == ""
    assert container.status == Container.Status.PROVISIONING
    assert container.last_error == ""
    assert job.steps.get(name="run_script").status == JobStep.Status.PENDING
    assert job.steps.get(name="push_script").status == JobStep.Status.DONE
    assert AuditEntry.objects.filter(action="retry", container=container).exists()
    assert queued_tasks(broker) == [("containers.tasks.provision_container", [job.pk])]


@pytest.mark.parametrize(
    "status", [ProvisioningJob.Status.QUEUED, ProvisioningJob.Status.RUNNING, ProvisioningJob.Status.SUCCEEDED]
)
def test_retry_of_job_not_failed_is_refused(job, admin_user, status):
    ProvisioningJob.objects.filter(pk=job.pk).update(status=status)

    with pytest.raises(ServiceError, match="Only a failed job can be retried"):
        retry_job(job.pk, admin_user)

    job.refresh_from_db()
    assert job.status == status
    assert not AuditEntry.objects.filter(action="retry").exists()


def test_abandon_queues_removal_and_abandons_job(job, admin_user, broker, django_capture_on_commit_callbacks):
    make_failed(job)
    broker.delete("portal")

    with django_capture_on_commit_callbacks(execute=True):
        abandon_container(job.container_id, admin_user)

    job.refresh_from_db()
    removal = ProvisioningJob.objects.get(kind=ProvisioningJob.Kind.REMOVE)
    assert job.status == ProvisioningJob.Status.ABANDONED
    assert Container.objects.get(pk=job.container_id).status == Container.Status.REMOVING
    assert list(removal.steps.values_list("name", flat=True)) == ["delete", "release"]
    assert AuditEntry.objects.filter(action="abandon").exists()
    assert queued_tasks(broker) == [("containers.tasks.remove_container", [removal.pk])]


@pytest.mark.parametrize("status", [Container.Status.PROVISIONING, Container.Status.READY, Container.Status.REMOVED])
def test_abandon_of_container_not_failed_is_refused(job, admin_user, status):
    Container.objects.filter(pk=job.container_id).update(status=status)

    with pytest.raises(ServiceError):
        abandon_container(job.container_id, admin_user)

    assert Container.objects.get(pk=job.container_id).status == status
    assert not ProvisioningJob.objects.filter(kind=ProvisioningJob.Kind.REMOVE).exists()


def test_run_that_lost_its_job_stops_without_writing(job, unreachable_host):
    claimed = provisioning.claim_job(job.pk, ProvisioningJob.Kind.PROVISION)
    context = provisioning.load_context(claimed)
    copy_step = claimed.steps.get(name="copy")
    # Another run took the job over, as after a lease that ran out.
    ProvisioningJob.objects.filter(pk=job.pk).update(attempts=2, heartbeat_at=timezone.now())

    with pytest.raises(provisioning.LeaseLost):
        provisioning.run_step(context, copy_step, lambda ctx: None, final_attempt=True)
    with pytest.raises(provisioning.LeaseLost):
        provisioning.record_failure(context, copy_step, provisioning.STEP_FAILURES["copy"])

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.RUNNING
    assert job.attempts == 2
    assert job.steps.get(name="copy").status == JobStep.Status.PENDING
    assert Container.objects.get(pk=job.container_id).status == Container.Status.PROVISIONING
    assert not job.log_lines.exists()
