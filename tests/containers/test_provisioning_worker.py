"""Provisioning through real Celery workers on the Redis broker, into real LXD.

The rows are committed (transaction=True), because the workers read them on
their own database connections, one of them from another process.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from django.utils import timezone

from containers import tasks
from containers.models import Container, ContainerRequest, JobStep, ProvisioningJob
from containers.provisioning_steps import MARKER_CONTAINER
from containers.services import approve_request
from portal.celery import app as celery_app

pytestmark = [pytest.mark.lxd, pytest.mark.django_db(transaction=True)]

# Upper bound in seconds for one provisioning run on a slow machine. The
# tests poll and stop as soon as the job has finished.
JOB_DEADLINE = 300


def wait_for_job(job: ProvisioningJob, statuses: set[str], deadline: float = JOB_DEADLINE) -> ProvisioningJob:
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        job.refresh_from_db()
        if job.status in statuses:
            return job
        time.sleep(0.1)
    steps = dict(job.steps.values_list("name", "status"))
    pytest.fail(f"job {job.pk} is {job.status} after {deadline} s; steps: {steps}")


def wait_for_step_done(job: ProvisioningJob, step: str, deadline: float = JOB_DEADLINE) -> None:
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        if job.steps.filter(name=step, status=JobStep.Status.DONE).exists():
            return
        if ProvisioningJob.objects.filter(pk=job.pk, status=ProvisioningJob.Status.FAILED).exists():
            pytest.fail(f"job {job.pk} failed before step {step} was done")
        time.sleep(0.05)
    pytest.fail(f"step {step} of job {job.pk} not done after {deadline} s")


def instances_of(lxd_host, container: Container) -> list[str]:
    """Names of the instances in the project that carry this container's marker."""
    return [
        name
        for name in lxd_host.list_instances()
        if lxd_host.instance_config(name).get(MARKER_CONTAINER) == str(container.pk)
    ]


@pytest.fixture
def worker_process(broker, tmp_path):
    """Start a Celery worker as a separate process on the test database; return a function that kills it."""
    database = settings.DATABASES["default"]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            f"--hostname=doomed-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=settings.BASE_DIR,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def kill() -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    yield kill
    if process.poll() is None:
        kill()
    log.close()


def test_worker_provisions_approved_request(worker, make_request, admin_user, lxd_host, lxd_cleanup):
    request = make_request(name=lxd_cleanup.new_name("w"))

    container = approve_request(request.pk, admin_user)
    job = wait_for_job(container.jobs.get(), {ProvisioningJob.Status.SUCCEEDED, ProvisioningJob.Status.FAILED})

    assert job.status == ProvisioningJob.Status.SUCCEEDED, job.last_error
    container.refresh_from_db()
    assert container.status == Container.Status.READY
    assert ContainerRequest.objects.get(pk=request.pk).password_hash == ""
    assert lxd_host.ipv4_addresses(container.name) == [container.address.ip]


def test_killed_worker_job_completes_once(worker_process, make_request, admin_user, lxd_host, lxd_cleanup):
    request = make_request(name=lxd_cleanup.new_name("k"))
    container = approve_request(request.pk, admin_user)
    job = container.jobs.get()

    # The process worker takes the job; it is killed as soon as the init
    # script has run, in the middle of the job.
    wait_for_step_done(job, "run_script")
    worker_process()
    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.RUNNING
    assert job.attempts == 1
    done_before_kill = set(job.steps.filter(status=JobStep.Status.DONE).values_list("name", flat=True))
    assert {"copy", "configure", "start", "push_script", "run_script"} <= done_before_kill

    # Without heartbeats the lease runs out. Instead of waiting for that, the
    # test moves the last heartbeat back. Beat's resume_stale_jobs then
    # queues the job again and a fresh worker takes it.
    stale = timezone.now() - timedelta(seconds=settings.PROVISIONING_LEASE_SECONDS + 1)
    ProvisioningJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    with start_worker(celery_app, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60):
        assert tasks.resume_stale_jobs() == [job.pk]
        job = wait_for_job(job, {ProvisioningJob.Status.SUCCEEDED, ProvisioningJob.Status.FAILED})

    assert job.status == ProvisioningJob.Status.SUCCEEDED, job.last_error
    assert job.attempts == 2
    assert set(job.steps.values_list("status", flat=True)) == {JobStep.Status.DONE}
    container.refresh_from_db()
    assert container.status == Container.Status.READY
    assert instances_of(lxd_host, container) == [container.name]
    assert lxd_host.ipv4_addresses(container.name) == [container.address.ip]
    assert lxd_host.execute(container.name, ["getent", "passwd", "alice"], timeout=30).exit_code == 0
    connection.close()
