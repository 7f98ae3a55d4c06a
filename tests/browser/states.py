"""Container states set up in the database, as the worker would leave them, for pages that show them."""

from django.utils import timezone

from containers.models import Container, ContainerRequest, JobLogLine, JobStep, ProvisioningJob
from containers.services import approve_request

START_ERROR = "Container did not start: timed out after 60 s."


def make_ready_container(request: ContainerRequest, admin) -> Container:
    """Approve `request` and finish its job as a successful worker run would."""
    container = approve_request(request.pk, admin)
    job = container.jobs.get()
    now = timezone.now()
    job.transition(ProvisioningJob.Status.RUNNING, attempts=1, started_at=now)
    job.steps.update(status=JobStep.Status.DONE, started_at=now, finished_at=now)
    job.transition(ProvisioningJob.Status.SUCCEEDED, finished_at=now)
    container.transition(Container.Status.READY, ready_at=now)
    return container


def make_failed_job(request: ContainerRequest, admin) -> ProvisioningJob:
    """Approve `request` and fail its job at step 3 (start), as the worker does when the container does not start."""
    container = approve_request(request.pk, admin)
    job = container.jobs.get()
    job.transition(ProvisioningJob.Status.RUNNING, attempts=1, started_at=timezone.now())
    job.transition(ProvisioningJob.Status.FAILED, last_error=START_ERROR, finished_at=timezone.now())
    job.steps.filter(position__lt=3).update(status=JobStep.Status.DONE)
    job.steps.filter(position=3).update(status=JobStep.Status.FAILED, error=START_ERROR)
    container.transition(Container.Status.FAILED, last_error=START_ERROR)
    JobLogLine.objects.create(job=job, step="start", level=JobLogLine.Level.ERROR, message="lxc start: timed out")
    return job
