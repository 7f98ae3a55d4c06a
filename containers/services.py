"""Every change an administrator or member makes to requests, containers and jobs.

Views call only these functions to change something. Each one runs in one
database transaction, writes an AuditEntry, and queues its Celery task with
`transaction.on_commit`, so a worker never looks for a row it cannot see yet
and a rolled-back change queues nothing.
"""

import ipaddress
import logging
from functools import partial

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from containers.addresses import check_chosen_address, lowest_free_address
from containers.errors import ServiceError
from containers.models import (
    Address,
    AuditEntry,
    Container,
    ContainerRequest,
    JobStep,
    ProvisioningJob,
)
from notifications.services import notify_request_approved, notify_request_rejected

__all__ = [
    "PROVISION_STEPS",
    "REMOVE_STEPS",
    "ServiceError",
    "abandon_container",
    "approve_request",
    "cancel_request",
    "enqueue_job",
    "reject_request",
    "remove_container",
    "retry_job",
]

logger = logging.getLogger(__name__)

# The steps of each kind of job, in the order the worker runs them.
PROVISION_STEPS = ("copy", "configure", "start", "push_script", "run_script", "restart", "wait_running", "verify")
REMOVE_STEPS = ("delete", "release")

# How many addresses one approval tries when concurrent approvals keep taking
# the address it picked. Each lost race means another approval committed (or
# is committing) an address, so this bounds the wait, not the subnet's size.
ADDRESS_ATTEMPTS = 20


def approve_request(request_id: int, admin, ip: str | None = None) -> Container:
    """Approve a pending request: reserve an address, create the container and its job, queue the job.

    With `ip` the administrator's chosen address is reserved, otherwise the
    lowest free one. Raise ServiceError, changing nothing, if the request is
    no longer pending, the address is not allowed, or none is free.
    """
    with transaction.atomic():
        request = ContainerRequest.objects.select_related("template__host__subnet", "member").get(pk=request_id)
        subnet = request.template.host.subnet
        if subnet is None:
            raise ServiceError(
                _("Host %(host)s has no subnet, so no address can be reserved. Give the host a subnet first.")
                % {"host": request.template.host.name}
            )

        # The conditional UPDATE settles two administrators approving at
        # once: the second one waits for the first to commit, then matches
        # no pending row and stops here.
        if not request.transition(ContainerRequest.Status.APPROVED, decided_by=admin, decided_at=timezone.now()):
            raise ServiceError(_("This request is no longer pending, so it cannot be approved."))

        # Raising rolls back the approval above, so a bad address changes nothing.
        chosen = check_chosen_address(subnet, ip) if ip else None

        container = _create_container(request)
        address = _reserve_address(subnet, container, chosen)
        job = _create_job(container, ProvisioningJob.Kind.PROVISION, PROVISION_STEPS)
        AuditEntry.objects.create(
            actor=admin,
            action="approve",
            request=request,
            container=container,
            detail=f"address {address.ip}",
        )
        notify_request_approved(request.pk)
        transaction.on_commit(partial(enqueue_job, job.pk, job.kind))

    logger.info(
        "Approved request %s: container %s (%s) at %s, job %s",
        request.pk,
        container.pk,
        container.name,
        address.ip,
        job.pk,
    )
    return container


def _create_container(request: ContainerRequest) -> Container:
    # A savepoint, so that a name clash becomes a message instead of a broken transaction.
    try:
        with transaction.atomic():
            return Container.objects.create(
                request=request,
                owner=request.member,
                host=request.template.host,
                template=request.template,
                name=request.name,
                username=request.username,
            )
    except IntegrityError:
        raise ServiceError(
            _("A container named %(name)s already exists. Reject this request and ask for another name.")
            % {"name": request.name}
        ) from None


def _reserve_address(subnet, container: Container, chosen: ipaddress.IPv4Address | None) -> Address:
    """Insert the Address row for `container`, retrying past addresses that concurrent approvals took."""
    lost: set[ipaddress.IPv4Address] = set()
    for _attempt in range(ADDRESS_ATTEMPTS):
        candidate = chosen or lowest_free_address(subnet, skip=lost)
        try:
            # The unique constraint (subnet, ip) decides the race. The
            # savepoint keeps the outer transaction usable after a loss.
            with transaction.atomic():
                return Address.objects.create(subnet=subnet, ip=str(candidate), container=container)
        except IntegrityError:
            if chosen:
                raise ServiceError(_("%(ip)s is already held by another container.") % {"ip": chosen}) from None
            logger.info("Address %s in subnet %s was taken concurrently, trying the next one", candidate, subnet.pk)
            lost.add(candidate)
    raise ServiceError(_("Too many approvals are running at once. Try again in a moment."))


def _create_job(container: Container, kind: str, steps: tuple[str, ...]) -> ProvisioningJob:
    job = ProvisioningJob.objects.create(container=container, kind=kind)
    JobStep.objects.bulk_create(
        JobStep(job=job, position=position, name=name) for position, name in enumerate(steps, start=1)
    )
    return job


def enqueue_job(job_id: int, kind: str) -> None:
    """Send the Celery task that runs job `job_id` of `kind`. Call it only after the job is committed."""
    # Imported here because the tasks module imports the provisioning code,
    # which the web process needs only at this moment.
    from containers import tasks

    task = tasks.provision_container if kind == ProvisioningJob.Kind.PROVISION else tasks.remove_container
    task.delay(job_id)


def reject_request(request_id: int, admin, reason: str) -> None:
    """Reject a pending request with a reason the member will read."""
    reason = reason.strip()
    if not reason:
        raise ServiceError(_("Give a reason, so the member knows what to change."))

    with transaction.atomic():
        request = ContainerRequest.objects.get(pk=request_id)
        # The hash is dropped with the decision, because nothing will use it.
        if not request.transition(
            ContainerRequest.Status.REJECTED,
            decided_by=admin,
            decided_at=timezone.now(),
            rejection_reason=reason,
            password_hash="",
        ):
            raise ServiceError(_("This request is no longer pending, so it cannot be rejected."))
        AuditEntry.objects.create(actor=admin, action="reject", request=request, detail=reason)
        notify_request_rejected(request.pk)
    logger.info("Rejected request %s by user %s", request.pk, admin.pk)


def cancel_request(request_id: int, member) -> None:
    """Withdraw a member's own pending request. Raise PermissionDenied for anyone else's."""
    with transaction.atomic():
        request = ContainerRequest.objects.get(pk=request_id)
        if request.member_id != member.pk:
            raise PermissionDenied
        if not request.transition(ContainerRequest.Status.CANCELLED, password_hash=""):
            raise ServiceError(_("This request has already been decided, so it cannot be cancelled."))
        AuditEntry.objects.create(actor=member, action="cancel", request=request)
    logger.info("Cancelled request %s by its member %s", request.pk, member.pk)


def retry_job(job_id: int, admin) -> None:
    """Queue a failed job again. The worker resumes it at the step that failed."""
    with transaction.atomic():
        # Locked, because RUNNING -> QUEUED is also a valid transition (a
        # redelivery after a worker died), and a retry is only for a failed job.
        job = ProvisioningJob.objects.select_for_update().select_related("container").get(pk=job_id)
        container = job.container
        if job.status != ProvisioningJob.Status.FAILED or not job.transition(
            ProvisioningJob.Status.QUEUED, last_error="", finished_at=None
        ):
            raise ServiceError(_("Only a failed job can be retried."))

        # A provisioning job builds the container again, and a removal job removes it again.
        target = (
            Container.Status.PROVISIONING if job.kind == ProvisioningJob.Kind.PROVISION else Container.Status.REMOVING
        )
        if not container.transition(target, last_error=""):
            raise ServiceError(_("The container is not in a failed state, so its job cannot be retried."))

        job.steps.filter(status__in=[JobStep.Status.FAILED, JobStep.Status.RUNNING]).update(
            status=JobStep.Status.PENDING, error="", started_at=None, finished_at=None
        )
        AuditEntry.objects.create(actor=admin, action="retry", container=container, detail=f"job {job.pk}")
        transaction.on_commit(partial(enqueue_job, job.pk, job.kind))
    logger.info("Retry of job %s (%s) for container %s queued by user %s", job.pk, job.kind, container.pk, admin.pk)


def abandon_container(container_id: int, admin) -> ProvisioningJob:
    """Give up on a failed container: queue its removal, which deletes the instance and frees the address."""
    with transaction.atomic():
        container = _lock_for_removal(
            container_id, Container.Status.FAILED, _("Only a failed container can be abandoned.")
        )
        # The failed provisioning job will never resume.
        for job in container.jobs.filter(status=ProvisioningJob.Status.FAILED):
            job.transition(ProvisioningJob.Status.ABANDONED, finished_at=timezone.now())
        job = _queue_removal(container, admin, "abandon")
    logger.info(
        "Abandoned container %s (%s); removal job %s queued by user %s", container.pk, container.name, job.pk, admin.pk
    )
    return job


def remove_container(container_id: int, admin) -> ProvisioningJob:
    """Remove a ready container: queue the job that deletes the instance, with its data, and frees the address."""
    with transaction.atomic():
        container = _lock_for_removal(container_id, Container.Status.READY, _("Only a ready container can be removed."))
        job = _queue_removal(container, admin, "remove")
    logger.info(
        "Removal of container %s (%s) queued as job %s by user %s", container.pk, container.name, job.pk, admin.pk
    )
    return job


def _lock_for_removal(container_id: int, expected: str, error_message: str) -> Container:
    """Lock the container and move it from `expected` to REMOVING, or raise ServiceError with `error_message`."""
    # Locked, because both FAILED and READY may move to REMOVING, and each
    # caller accepts only one of them.
    container = Container.objects.select_for_update().get(pk=container_id)
    if container.status != expected or not container.transition(Container.Status.REMOVING, last_error=""):
        raise ServiceError(error_message)
    return container


def _queue_removal(container: Container, admin, action: str) -> ProvisioningJob:
    """Create the removal job and its audit entry, and queue the job once the transaction commits."""
    job = _create_job(container, ProvisioningJob.Kind.REMOVE, REMOVE_STEPS)
    AuditEntry.objects.create(actor=admin, action=action, container=container, detail=f"job {job.pk}")
    transaction.on_commit(partial(enqueue_job, job.pk, job.kind))
    return job
