"""The overview page: every host's GPUs now, the containers using their memory, and the host's health."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, Min

from containers.models import Container, Host
from gpus.models import FailureKind, Gpu, GpuProcess, GpuSample, OwnerKind

# Unattributed memory below this is not flagged: the driver's own contexts
# take a few MiB that no process owns.
# NOTE: a guessed limit, not measured on real boards; older drivers count
# more of their own use as "used".
UNATTRIBUTED_NOTICE_MIB = 64


@dataclass
class HostHealth:
    """Health of a host's GPU data: its state, the failure reason, lost GPUs and setup warnings."""

    state: str  # "ok", "never", "failing" or "stale"
    last_success_at: datetime | None = None
    failure: str = ""
    failure_detail: str = ""
    warning: str = ""
    instance_list_error: str = ""
    lost_gpus: list[Gpu] = field(default_factory=list)
    missing_count: int = 0
    persistence_off: list[Gpu] = field(default_factory=list)

    @property
    def is_current(self) -> bool:
        return self.state == "ok"


@dataclass
class ContainerHolding:
    name: str
    project: str
    memory_mib: int
    container: Container | None


@dataclass
class GpuRow:
    gpu: Gpu
    holdings: list[ContainerHolding] = field(default_factory=list)
    processes: list[GpuProcess] = field(default_factory=list)
    # Memory of processes that are not in a container (host, LXD monitor, unknown).
    other_memory_mib: int = 0
    idle_since: datetime | None = None
    idle_holdings: list[ContainerHolding] = field(default_factory=list)

    @property
    def memory_percent(self) -> int | None:
        if not self.gpu.memory_total_mib or self.gpu.memory_used_mib is None:
            return None
        return min(100, round(100 * self.gpu.memory_used_mib / self.gpu.memory_total_mib))

    @property
    def unattributed_flagged(self) -> bool:
        return (self.gpu.unattributed_memory_mib or 0) >= UNATTRIBUTED_NOTICE_MIB


@dataclass
class HostOverview:
    host: Host
    health: HostHealth
    gpus: list[GpuRow]


def host_health(host: Host, gpus: list[Gpu], now: datetime) -> HostHealth:
    status = getattr(host, "gpu_status", None)
    present = [gpu for gpu in gpus if gpu.lost_at is None]
    health = HostHealth(state="ok")
    health.lost_gpus = [gpu for gpu in gpus if gpu.lost_at is not None]
    health.persistence_off = [gpu for gpu in present if gpu.persistence_mode.lower() == "disabled"]
    if status is None or status.last_attempt_at is None:
        health.state = "never"
        return health

    health.last_success_at = status.last_success_at
    health.warning = status.warning
    health.instance_list_error = status.instance_list_error
    if status.attached_gpus is not None and status.attached_gpus > len(present):
        health.missing_count = status.attached_gpus - len(present)
    if status.failure_kind:
        health.state = "failing"
        health.failure = FailureKind(status.failure_kind).label
        health.failure_detail = status.failure_detail
    elif status.last_success_at is None:
        health.state = "never"
    elif status.last_success_at < now - timedelta(seconds=settings.GPU_STALE_SECONDS):
        health.state = "stale"
    return health


def idle_since_by_gpu(now: datetime) -> dict[int, datetime]:
    """Return, per GPU, the start of the idle window if it stayed below the idle threshold all through it.

    One grouped query over the last GPU_IDLE_MINUTES of raw samples. A GPU
    counts as idle only when every sample in the window has a utilisation
    below GPU_IDLE_UTILIZATION_PERCENT and the samples reach back to the
    window's start: a MIG GPU (no utilisation) or a new GPU is never flagged.
    """
    window_start = now - timedelta(minutes=settings.GPU_IDLE_MINUTES)
    tolerance = timedelta(seconds=2 * settings.GPU_SAMPLE_INTERVAL)
    rows = (
        GpuSample.objects.filter(taken_at__gte=window_start, gpu__lost_at__isnull=True)
        .values("gpu_id")
        .annotate(
            first=Min("taken_at"),
            highest=Max("utilization_percent"),
            samples=Count("id"),
            known=Count("utilization_percent"),
        )
        .order_by()
    )
    idle = {}
    for row in rows:
        complete = row["known"] == row["samples"] and row["first"] <= window_start + tolerance
        if complete and row["highest"] is not None and row["highest"] < settings.GPU_IDLE_UTILIZATION_PERCENT:
            idle[row["gpu_id"]] = row["first"]
    return idle


def gpu_overview(now: datetime, include_idle: bool) -> list[HostOverview]:
    """Return every collecting host with its GPUs, their holders and their health (3 or 4 queries)."""
    hosts = list(Host.objects.filter(is_active=True, collects_gpu=True).select_related("gpu_status"))
    gpus = list(
        Gpu.objects.filter(host__is_active=True, host__collects_gpu=True).order_by(
            "host_id", F("lost_at").asc(nulls_first=True), "index"
        )
    )
    processes = GpuProcess.objects.filter(host__is_active=True, host__collects_gpu=True).select_related(
        "container__owner"
    )
    idle = idle_since_by_gpu(now) if include_idle else {}

    rows = {gpu.pk: GpuRow(gpu=gpu) for gpu in gpus}
    holdings: dict[tuple[int, str, str], ContainerHolding] = {}
    for process in processes:
        row = rows.get(process.gpu_id)
        if row is None:
            continue
        row.processes.append(process)
        memory = process.used_memory_mib or 0
        if process.kind != OwnerKind.CONTAINER:
            row.other_memory_mib += memory
            continue
        key = (process.gpu_id, process.project, process.instance)
        if key not in holdings:
            holdings[key] = ContainerHolding(process.instance, process.project, 0, process.container)
            row.holdings.append(holdings[key])
        holdings[key].memory_mib += memory

    for row in rows.values():
        row.holdings.sort(key=lambda holding: (-holding.memory_mib, holding.name))

    by_host: dict[int, list[Gpu]] = {}
    for gpu in gpus:
        by_host.setdefault(gpu.host_id, []).append(gpu)
    overviews = []
    for host in hosts:
        health = host_health(host, by_host.get(host.pk, []), now)
        host_rows = [rows[gpu.pk] for gpu in by_host.get(host.pk, [])]
        # Idleness is only known while the data is current: a failing host's
        # last samples say nothing about the time since.
        if health.is_current:
            for row in host_rows:
                if row.gpu.pk in idle and row.holdings:
                    row.idle_since = idle[row.gpu.pk]
                    row.idle_holdings = row.holdings
        overviews.append(HostOverview(host=host, health=health, gpus=host_rows))
    return overviews
