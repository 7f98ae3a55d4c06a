"""Running a provisioning or removal job: claim it, run its steps in order, record the outcome.

`run_job(job_id, kind)` is what the Celery tasks call:

1. Claim the job with one conditional UPDATE. A queued job can be claimed,
   and so can a running job whose heartbeat is older than
   PROVISIONING_LEASE_SECONDS, because its worker died. In any other case
   (a live worker runs it, it finished or was abandoned, it was deleted) the
   run ends quietly, so a message delivered twice does nothing the second time.
2. Run the steps in position order and skip those already done, so a retry
   or a takeover resumes where the previous run stopped. Before each step,
   refresh the heartbeat and check that this run still holds the job. A
   background thread keeps the heartbeat fresh during long steps.
3. Record each step's start and end, and its notes as job log lines.
4. On a failure, mark the step, the job and the container failed, with a
   message for the member in their language and the technical detail in
   the job log, then re-raise. LXDUnavailable before the last attempt
   instead hands the job back (queued) so that the task can retry it.
5. After the last step, a provisioning job makes the container ready and
   drops the request's password hash, and a removal job marks it removed.

The claim token is the job's `attempts` counter: each claim increments it,
and every later write of this run matches on it, so a run that lost its job
to a takeover cannot overwrite the new owner's progress.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from containers import provisioning_steps as steps
from containers.models import Address, ContainerRequest, JobLogLine, JobStep, ProvisioningJob
from containers.models.requests import Container
from containers.provisioning_steps import StepContext, StepFailed
from hostops.lxd import LXDError, LXDHost, LXDUnavailable
from notifications.services import notify_container_failed, notify_container_ready

logger = logging.getLogger(__name__)

# Messages for the member when a step fails without a more specific reason.
STEP_FAILURES = {
    "copy": _("The new container could not be copied from the template."),
    "configure": _("The container's resource limits could not be set."),
    "start": _("The container could not be started."),
    "push_script": _("The setup files could not be copied into the container."),
    "run_script": _("Setting up your user, password, SSH keys and network inside the container failed."),
    "restart": _("The container could not be restarted."),
    "wait_running": _("The container did not finish starting after the restart."),
    "verify": _("The container is running, but the final check of its address, user or SSH server failed."),
    "delete": _("The container could not be deleted from its host."),
    "release": _("The container's address could not be released."),
}
NEXT_STEP = _("An administrator can see the details and retry.")


class LeaseLost(Exception):
    """Another run took the job over because this one seemed dead, so this run must stop writing."""


def run_job(job_id: int, kind: str, final_attempt: bool = True) -> None:
    """Claim job `job_id` of `kind` and run its remaining steps, as the module docstring describes."""
    job = claim_job(job_id, kind)
    if job is None:
        logger.info("Job %s (%s) is not claimable: finished, abandoned, gone or held by a live worker", job_id, kind)
        return
    logger.info("Job %s (%s) for container %s claimed, attempt %s", job.pk, kind, job.container_id, job.attempts)

    ctx = load_context(job)
    functions = steps.PROVISION if kind == ProvisioningJob.Kind.PROVISION else steps.REMOVE
    try:
        with Heartbeat(job):
            for step in job.steps.order_by("position"):
                if step.status == JobStep.Status.DONE:
                    continue
                run_step(ctx, step, functions[step.name], final_attempt)

        if kind == ProvisioningJob.Kind.PROVISION:
            finish_provisioning(ctx)
        else:
            finish_removal(ctx)
    except LeaseLost as error:
        # The run that took over owns the job's rows now; this one only stops.
        logger.warning("Job %s: stopping attempt %s: %s", job.pk, job.attempts, error)


def claim_job(job_id: int, kind: str) -> ProvisioningJob | None:
    """Take job `job_id` for this run and return it, or return None if it is not claimable."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.PROVISIONING_LEASE_SECONDS)
    claimable = Q(status=ProvisioningJob.Status.QUEUED) | Q(
        status=ProvisioningJob.Status.RUNNING, heartbeat_at__lt=stale_before
    )
    # One UPDATE, so two deliveries of the same message cannot both claim:
    # the second waits for the first's row lock and then no longer matches.
    claimed = ProvisioningJob.objects.filter(claimable, pk=job_id, kind=kind).update(
        status=ProvisioningJob.Status.RUNNING,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", Value(now)),
        updated_at=now,
    )
    if not claimed:
        return None
    return ProvisioningJob.objects.select_related(
        "container__host__subnet", "container__template", "container__request", "container__owner"
    ).get(pk=job_id)


def load_context(job: ProvisioningJob) -> StepContext:
    container = job.container
    address = Address.objects.select_related("subnet").filter(container=container).first()
    return StepContext(
        job=job,
        container=container,
        request=container.request,
        template=container.template,
        subnet=address.subnet if address else container.host.subnet,
        address=address,
        lxd=LXDHost.for_host(container.host),
    )


def held(job: ProvisioningJob):
    """Return a queryset that matches the job only while this run owns it."""
    return ProvisioningJob.objects.filter(pk=job.pk, status=ProvisioningJob.Status.RUNNING, attempts=job.attempts)


def refresh_heartbeat(job: ProvisioningJob) -> None:
    if not held(job).update(heartbeat_at=timezone.now()):
        raise LeaseLost(f"Job {job.pk} is no longer held by attempt {job.attempts}.")


class Heartbeat:
    """Refresh the job's heartbeat from a background thread while the steps run.

    One step can take longer than the lease, copying a large template for
    example. Without this thread a redelivered message would take over a job
    whose worker is alive. The thread uses its own database connection,
    which cannot see rows of an uncommitted transaction, so it is not
    started inside one (tests that call run_job inside their transaction).
    """

    def __init__(self, job: ProvisioningJob) -> None:
        self.job = job
        self.interval = max(1.0, settings.PROVISIONING_LEASE_SECONDS / 3)
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if not connection.in_atomic_block:
            self.thread = threading.Thread(target=self.beat, name=f"heartbeat-job-{self.job.pk}", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()

    def beat(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    held(self.job).update(heartbeat_at=timezone.now())
                except DatabaseError as error:
                    logger.warning("Heartbeat of job %s failed: %s", self.job.pk, error)
        finally:
            connection.close()


def log_line(job: ProvisioningJob, step: str, message: str, level: str = JobLogLine.Level.INFO) -> None:
    JobLogLine.objects.create(job=job, step=step, level=level, message=message)


def flush_notes(ctx: StepContext, step: JobStep) -> None:
    for note in ctx.notes:
        log_line(ctx.job, step.name, note)
    ctx.notes.clear()


def run_step(ctx: StepContext, step: JobStep, function, final_attempt: bool) -> None:
    refresh_heartbeat(ctx.job)
    JobStep.objects.filter(pk=step.pk).update(
        status=JobStep.Status.RUNNING, started_at=timezone.now(), finished_at=None, error=""
    )
    logger.info("Job %s: step %s started for container %s", ctx.job.pk, step.name, ctx.container.pk)

    try:
        function(ctx)
    except LXDUnavailable as error:
        flush_notes(ctx, step)
        if not final_attempt:
            hand_back(ctx, step, error)
        else:
            record_failure(ctx, step, STEP_FAILURES[step.name], detail=str(error))
        raise
    except StepFailed as error:
        flush_notes(ctx, step)
        record_failure(ctx, step, error.message, error.params, error.detail, error.says_next_step)
        raise
    except LXDError as error:
        flush_notes(ctx, step)
        record_failure(ctx, step, STEP_FAILURES[step.name], detail=str(error))
        raise
    except LeaseLost:
        raise
    except Exception as error:
        # Not an outside failure the steps know about: keep the traceback in
        # the worker's log, and still leave the rows in a state the pages explain.
        logger.exception("Job %s: step %s raised an unexpected error", ctx.job.pk, step.name)
        flush_notes(ctx, step)
        record_failure(ctx, step, STEP_FAILURES[step.name], detail=f"{type(error).__name__}: {error}")
        raise

    flush_notes(ctx, step)
    JobStep.objects.filter(pk=step.pk).update(status=JobStep.Status.DONE, finished_at=timezone.now())
    logger.info("Job %s: step %s done for container %s", ctx.job.pk, step.name, ctx.container.pk)


def member_message(ctx: StepContext, message, params: dict | None = None, add_next_step: bool = True) -> str:
    """Render a failure message in the container owner's language."""
    language = ctx.container.owner.language or settings.LANGUAGE_CODE
    with translation.override(language):
        text = str(message) % params if params else str(message)
        if add_next_step:
            text = f"{text} {NEXT_STEP}"
    return text


def record_failure(
    ctx: StepContext,
    step: JobStep,
    message,
    params: dict | None = None,
    detail: str = "",
    says_next_step: bool = False,
) -> None:
    """Mark the step, the job and the container failed, explaining why to the member and to administrators.

    Unless `says_next_step`, the message gets a sentence telling the member
    that an administrator can retry.
    """
    text = member_message(ctx, message, params, add_next_step=not says_next_step)
    now = timezone.now()
    with transaction.atomic():
        if not held(ctx.job).update(
            status=ProvisioningJob.Status.FAILED, last_error=text, finished_at=now, updated_at=now
        ):
            raise LeaseLost(f"Job {ctx.job.pk} is no longer held by attempt {ctx.job.attempts}.")
        JobStep.objects.filter(pk=step.pk).update(status=JobStep.Status.FAILED, error=text, finished_at=now)
        if not ctx.container.transition(Container.Status.FAILED, last_error=text):
            logger.warning(
                "Container %s was %s, not marked failed by job %s", ctx.container.pk, ctx.container.status, ctx.job.pk
            )
        log_line(ctx.job, step.name, detail or text, JobLogLine.Level.ERROR)
        # The member is waiting for the container. No one waits for a removal.
        if ctx.job.kind == ProvisioningJob.Kind.PROVISION:
            notify_container_failed(ctx.container.pk)
    logger.warning(
        "Job %s: step %s failed for container %s: %s",
        ctx.job.pk,
        step.name,
        ctx.container.pk,
        (detail or text).splitlines()[-1] if (detail or text) else "",
    )


def hand_back(ctx: StepContext, step: JobStep, error: LXDUnavailable) -> None:
    """Return the job to the queue after LXD was unreachable, so the task's retry resumes at this step."""
    with transaction.atomic():
        if not held(ctx.job).update(status=ProvisioningJob.Status.QUEUED, heartbeat_at=None, updated_at=timezone.now()):
            raise LeaseLost(f"Job {ctx.job.pk} is no longer held by attempt {ctx.job.attempts}.")
        JobStep.objects.filter(pk=step.pk).update(status=JobStep.Status.PENDING, started_at=None)
        log_line(ctx.job, step.name, f"{error} Retrying later.", JobLogLine.Level.WARNING)
    logger.warning("Job %s: LXD unavailable at step %s, handed back for a retry: %s", ctx.job.pk, step.name, error)


def finish_provisioning(ctx: StepContext) -> None:
    now = timezone.now()
    with transaction.atomic():
        if not held(ctx.job).update(
            status=ProvisioningJob.Status.SUCCEEDED, finished_at=now, last_error="", updated_at=now
        ):
            raise LeaseLost(f"Job {ctx.job.pk} is no longer held by attempt {ctx.job.attempts}.")
        ctx.container.transition(Container.Status.READY, ready_at=now, last_error="")
        # Nothing needs the hash once the password is set in the container.
        ContainerRequest.objects.filter(pk=ctx.request.pk).update(password_hash="")
        log_line(ctx.job, "", f"Container {ctx.container.name} is ready at {ctx.address.ip}.")
        notify_container_ready(ctx.container.pk)
    logger.info(
        "Job %s succeeded: container %s (%s) ready at %s",
        ctx.job.pk,
        ctx.container.pk,
        ctx.container.name,
        ctx.address.ip,
    )


def finish_removal(ctx: StepContext) -> None:
    now = timezone.now()
    with transaction.atomic():
        if not held(ctx.job).update(
            status=ProvisioningJob.Status.SUCCEEDED, finished_at=now, last_error="", updated_at=now
        ):
            raise LeaseLost(f"Job {ctx.job.pk} is no longer held by attempt {ctx.job.attempts}.")
        ctx.container.transition(Container.Status.REMOVED, last_error="")
        ContainerRequest.objects.filter(pk=ctx.request.pk).update(password_hash="")
        log_line(ctx.job, "", f"Container {ctx.container.name} is removed.")
    logger.info("Job %s succeeded: container %s (%s) removed", ctx.job.pk, ctx.container.pk, ctx.container.name)


def requeue_stale_jobs() -> list[int]:
    """Queue again every running job whose heartbeat is older than the lease, and return their ids.

    Such a job's worker died (killed, or its machine went down) and its
    message may not come back until the broker's visibility timeout ends.
    """
    from containers.services import enqueue_job

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.PROVISIONING_LEASE_SECONDS)
    stale = ProvisioningJob.objects.filter(status=ProvisioningJob.Status.RUNNING, heartbeat_at__lt=stale_before)
    requeued = []
    for job_id, kind in stale.values_list("pk", "kind"):
        with transaction.atomic():
            # Conditional again: the job may have been taken over since the query.
            if not stale.filter(pk=job_id).update(
                status=ProvisioningJob.Status.QUEUED, heartbeat_at=None, updated_at=now
            ):
                continue
            JobStep.objects.filter(job_id=job_id, status=JobStep.Status.RUNNING).update(
                status=JobStep.Status.PENDING, started_at=None
            )
            JobLogLine.objects.create(
                job_id=job_id,
                level=JobLogLine.Level.WARNING,
                message="The worker running this job stopped sending heartbeats, so the job was queued again.",
            )
            transaction.on_commit(lambda job_id=job_id, kind=kind: enqueue_job(job_id, kind))
        logger.info("Requeued stale job %s (%s)", job_id, kind)
        requeued.append(job_id)
    return requeued
