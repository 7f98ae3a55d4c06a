"""Celery tasks of GPU monitoring.

Beat runs `dispatch_gpu_collection` every GPU_SAMPLE_INTERVAL seconds. It
sends `collect_gpu_samples(host_id)` to each collecting host's own queue
(`Host.gpu_queue`, "gpu.<name>"). Only the worker running on that host
consumes the queue, because nvidia-smi and /proc must be read there.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from containers.models import Host
from gpus.attribution import attribute
from gpus.collection import record_failure, record_snapshot
from gpus.rollups import roll_up_and_prune
from hostops.lxd import LXDError, LXDHost
from hostops.nvidia import NvidiaSmiError, run_nvidia_smi

logger = logging.getLogger(__name__)


def collecting_hosts():
    return Host.objects.filter(is_active=True, collects_gpu=True)


@shared_task
def dispatch_gpu_collection() -> int:
    """Queue one collection per collecting host on that host's queue; return how many."""
    count = 0
    for host in collecting_hosts():
        # A message older than one interval is dropped: the next one is
        # already on its way, and two readings of the same moment add nothing.
        collect_gpu_samples.apply_async((host.pk,), queue=host.gpu_queue, expires=settings.GPU_SAMPLE_INTERVAL)
        count += 1
    return count


def instance_list(host: Host) -> tuple[list[tuple[str, str]] | None, str]:
    """Return the host's (project, name) instances from LXD, or None and the error."""
    try:
        return LXDHost.for_host(host).list_all_instances(), ""
    except LXDError as error:
        logger.warning("LXD instance list of host %s unavailable: %s", host.pk, error)
        return None, str(error)


@shared_task
def collect_gpu_samples(host_id: int) -> None:
    """Read nvidia-smi and /proc on this host and store one sample.

    A failing nvidia-smi is recorded on the host's status and not raised,
    because the next run is due in one interval anyway. Anything else, such
    as a database error, is raised.
    """
    host = collecting_hosts().filter(pk=host_id).first()
    if host is None:
        logger.info("GPU collection skipped: host %s is gone or does not collect", host_id)
        return

    taken_at = timezone.now()
    try:
        report = run_nvidia_smi(settings.NVIDIA_SMI_PATH, settings.NVIDIA_SMI_TIMEOUT)
    except NvidiaSmiError as error:
        record_failure(host, error, taken_at)
        return

    instances, instance_list_error = instance_list(host)
    snapshot = attribute(report, settings.PROC_ROOT, instances)
    record_snapshot(host, snapshot, taken_at, instance_list_error=instance_list_error)


@shared_task
def roll_up_gpu_samples() -> dict[str, int]:
    """Roll up complete hours and prune samples past retention."""
    return roll_up_and_prune()
