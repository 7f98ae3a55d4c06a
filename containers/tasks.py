"""Celery tasks for containers. They take job ids and leave the work to containers.provisioning."""

import logging

from celery import shared_task

from containers import provisioning
from containers.models import ProvisioningJob
from hostops.lxd import LXDUnavailable

logger = logging.getLogger(__name__)

# An unreachable LXD daemon is the only error worth retrying: anything else
# (a missing snapshot, a script that fails) fails the same way again.
RETRY_OPTIONS = {
    "autoretry_for": (LXDUnavailable,),
    "retry_backoff": 5,
    "retry_backoff_max": 120,
    "max_retries": 5,
}


@shared_task(bind=True, **RETRY_OPTIONS)
def provision_container(self, job_id: int) -> None:
    """Build the container of provisioning job `job_id`, resuming at its first step not done."""
    final_attempt = self.request.retries >= self.max_retries
    provisioning.run_job(job_id, ProvisioningJob.Kind.PROVISION, final_attempt=final_attempt)


@shared_task(bind=True, **RETRY_OPTIONS)
def remove_container(self, job_id: int) -> None:
    """Delete the instance of removal job `job_id`'s container and release its address."""
    final_attempt = self.request.retries >= self.max_retries
    provisioning.run_job(job_id, ProvisioningJob.Kind.REMOVE, final_attempt=final_attempt)


@shared_task
def resume_stale_jobs() -> list[int]:
    """Queue again the running jobs whose worker stopped sending heartbeats, and return their ids."""
    requeued = provisioning.requeue_stale_jobs()
    if requeued:
        logger.info("Requeued %s stale jobs: %s", len(requeued), requeued)
    return requeued
