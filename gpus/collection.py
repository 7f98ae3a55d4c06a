"""Store one collection attempt of a host: a snapshot, or the reason there is none."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from containers.models import Container, Host
from gpus.attribution import Snapshot
from gpus.models import (
    ContainerGpuSample,
    FailureKind,
    Gpu,
    GpuHostStatus,
    GpuProcess,
    GpuSample,
    HostSample,
    OwnerKind,
)
from hostops.cgroups import OwnerKind as CgroupOwnerKind
from hostops.nvidia import NvidiaSmiError

logger = logging.getLogger(__name__)

# Field lengths of GpuProcess; nvidia-smi and /proc text is cut to fit.
MAX_PROCESS_NAME = 255
MAX_CGROUP = 255


def locked_status(host: Host) -> GpuHostStatus:
    """Return the host's status row, locked until the transaction ends.

    The lock serialises two collections of the same host (a late task and
    the next one), so each computes its sample span from the other's result.
    """
    GpuHostStatus.objects.get_or_create(host=host)
    return GpuHostStatus.objects.select_for_update().get(host=host)


def sample_seconds(status: GpuHostStatus, taken_at: datetime) -> int:
    """Return the span in seconds that a sample taken now covers.

    It is the time since the previous attempt, at most twice the sampling
    interval, so a gap in collection (worker down) is not billed to anyone.
    """
    interval = settings.GPU_SAMPLE_INTERVAL
    if status.last_attempt_at is None or status.last_attempt_at >= taken_at:
        return interval
    gap = (taken_at - status.last_attempt_at).total_seconds()
    return max(1, min(int(round(gap)), 2 * interval))


def record_failure(host: Host, error: NvidiaSmiError, taken_at: datetime) -> None:
    """Record a failed attempt; the last good data stays in place, shown as stale."""
    with transaction.atomic():
        status = locked_status(host)
        status.last_attempt_at = taken_at
        status.failure_kind = FailureKind(error.kind.value)
        status.failure_detail = error.detail
        status.consecutive_failures += 1
        status.save()
        HostSample.objects.create(
            host=host,
            taken_at=taken_at,
            ok=False,
            failure_kind=status.failure_kind,
            failure_detail=error.detail,
        )
    logger.warning("GPU collection on host %s failed (%s): %s", host.pk, error.kind.value, error.detail)


def managed_containers(host: Host, snapshot: Snapshot) -> dict[str, Container]:
    """Map instance name to the portal's Container for instances in the host's project."""
    names = {use.name for use in snapshot.containers if use.project == host.project}
    if not names:
        return {}
    containers = Container.objects.filter(host=host, name__in=names).exclude(status=Container.Status.REMOVED)
    return {container.name: container for container in containers}


def upsert_gpus(host: Host, snapshot: Snapshot, taken_at: datetime) -> dict[str, Gpu]:
    """Create or update the host's Gpu rows from the report; mark the missing ones lost."""
    existing = {gpu.uuid: gpu for gpu in Gpu.objects.filter(host=host)}
    by_uuid: dict[str, Gpu] = {}
    to_create, to_update = [], []
    for reading in snapshot.report.gpus:
        gpu = existing.get(reading.uuid)
        if gpu is None:
            gpu = Gpu(host=host, uuid=reading.uuid, first_seen_at=taken_at)
            to_create.append(gpu)
        else:
            to_update.append(gpu)
        gpu.index = reading.index
        gpu.minor_number = reading.minor_number
        gpu.pci_bus_id = reading.pci_bus_id[:20]
        gpu.name = reading.name[:100]
        gpu.persistence_mode = (reading.persistence_mode or "")[:20]
        gpu.mig_enabled = reading.mig_enabled
        gpu.last_seen_at = taken_at
        gpu.lost_at = None
        gpu.memory_used_mib = reading.memory_used_mib
        gpu.memory_total_mib = reading.memory_total_mib
        gpu.utilization_percent = reading.utilization_percent
        gpu.temperature_c = reading.temperature_c
        gpu.power_draw_w = reading.power_draw_w
        gpu.power_limit_w = reading.power_limit_w
        gpu.unattributed_memory_mib = snapshot.unattributed_memory_mib.get(reading.uuid)
        by_uuid[reading.uuid] = gpu

    # A GPU that the host had and that the report no longer lists is lost,
    # for example fallen off the bus. The host did not become smaller.
    for uuid, gpu in existing.items():
        if uuid not in by_uuid and gpu.lost_at is None:
            gpu.lost_at = taken_at
            to_update.append(gpu)
            logger.warning("GPU %s of host %s is missing from nvidia-smi's report", uuid, host.pk)

    Gpu.objects.bulk_create(to_create)
    if to_update:
        Gpu.objects.bulk_update(
            to_update,
            [
                "index",
                "minor_number",
                "pci_bus_id",
                "name",
                "persistence_mode",
                "mig_enabled",
                "last_seen_at",
                "lost_at",
                "memory_used_mib",
                "memory_total_mib",
                "utilization_percent",
                "temperature_c",
                "power_draw_w",
                "power_limit_w",
                "unattributed_memory_mib",
            ],
        )
    return by_uuid


def record_snapshot(host: Host, snapshot: Snapshot, taken_at: datetime, instance_list_error: str = "") -> HostSample:
    """Store a successful attempt: GPU and container samples and the current process list."""
    report = snapshot.report
    with transaction.atomic():
        status = locked_status(host)
        seconds = sample_seconds(status, taken_at)
        gpus = upsert_gpus(host, snapshot, taken_at)
        containers = managed_containers(host, snapshot)

        GpuSample.objects.bulk_create(
            GpuSample(
                gpu=gpus[reading.uuid],
                taken_at=taken_at,
                seconds=seconds,
                memory_used_mib=reading.memory_used_mib,
                memory_total_mib=reading.memory_total_mib,
                utilization_percent=reading.utilization_percent,
                temperature_c=reading.temperature_c,
                power_draw_w=reading.power_draw_w,
            )
            for reading in report.gpus
        )

        container_samples = []
        for use in snapshot.containers:
            container = containers.get(use.name) if use.project == host.project else None
            for uuid, memory in use.memory_by_gpu.items():
                container_samples.append(
                    ContainerGpuSample(
                        gpu=gpus[uuid],
                        taken_at=taken_at,
                        seconds=seconds,
                        container=container,
                        project=use.project[:63],
                        instance=use.name[:63],
                        memory_mib=memory,
                        process_count=use.processes_by_gpu[uuid],
                    )
                )
        ContainerGpuSample.objects.bulk_create(container_samples)

        GpuProcess.objects.filter(host=host).delete()
        GpuProcess.objects.bulk_create(process_row(host, gpus, containers, item) for item in snapshot.processes)

        status.last_attempt_at = taken_at
        status.last_success_at = taken_at
        status.failure_kind = ""
        status.failure_detail = ""
        status.warning = snapshot.report.messages
        status.instance_list_error = instance_list_error
        status.consecutive_failures = 0
        status.driver_version = (report.driver_version or "")[:40]
        status.cuda_version = (report.cuda_version or "")[:20]
        status.attached_gpus = report.attached_gpus
        status.save()
        sample = HostSample.objects.create(
            host=host,
            taken_at=taken_at,
            ok=True,
            gpu_count=len(report.gpus),
            process_count=len(snapshot.processes),
        )
    logger.info(
        "GPU sample of host %s: %s GPUs, %s processes, %s containers",
        host.pk,
        len(report.gpus),
        len(snapshot.processes),
        len(snapshot.containers),
    )
    return sample


def process_row(host: Host, gpus: dict[str, Gpu], containers: dict[str, Container], item) -> GpuProcess:
    owner = item.owner
    is_container = owner.kind == CgroupOwnerKind.CONTAINER
    container = containers.get(owner.instance) if is_container and owner.project == host.project else None
    return GpuProcess(
        host=host,
        gpu=gpus[item.gpu.uuid],
        pid=item.process.pid,
        type=item.process.type[:10],
        process_name=item.process.name[:MAX_PROCESS_NAME],
        used_memory_mib=item.process.used_memory_mib,
        kind=OwnerKind(owner.kind.value),
        project=(owner.project or "")[:63],
        instance=(owner.instance or "")[:63],
        container=container,
        unix_user=(owner.user or "")[:64],
        cgroup=owner.cgroup[:MAX_CGROUP],
    )


def stale_before(now: datetime) -> datetime:
    """Return the time before which a host's last successful sample counts as stale."""
    return now - timedelta(seconds=settings.GPU_STALE_SECONDS)
