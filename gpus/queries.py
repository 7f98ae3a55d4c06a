"""The querysets behind the GPU pages.

Each page runs a fixed number of queries, whatever the number of hosts,
GPUs, containers or days of history: current values come from `Gpu` and
`GpuProcess`, history from hourly roll-ups before the roll-up watermark and
from raw samples after it, grouped by the database.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, DateTimeField, F, Func, Max, Min, Sum, Value
from django.utils.translation import gettext_lazy as _

from containers.models import Container, Host
from gpus.models import (
    ContainerGpuHourlyRollup,
    ContainerGpuSample,
    FailureKind,
    Gpu,
    GpuHourlyRollup,
    GpuProcess,
    GpuSample,
    OwnerKind,
)
from gpus.rollups import current_watermark, floor_hour, memory_mib_seconds

# Unattributed memory below this is not flagged: the driver's own contexts
# take a few MiB that no process owns.
# NOTE: a guess from driver 535 to 570 output (0 to 10 MiB on an idle board);
# older drivers count more of their own use as "used".
UNATTRIBUTED_NOTICE_MIB = 64

DAY_BUCKET = timedelta(minutes=10)
WEEK_BUCKET = timedelta(hours=1)
# Buckets start at whole multiples of their length from this moment, in UTC.
BIN_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def date_bin(stride: timedelta, field_name: str) -> Func:
    """PostgreSQL's date_bin(): the start of the `stride`-long bucket that holds the field's time."""
    return Func(Value(stride), F(field_name), Value(BIN_ORIGIN), function="date_bin", output_field=DateTimeField())


# Overview page.


@dataclass
class HostHealth:
    """What an administrator must know about a host's GPU data."""

    state: str  # "ok", "never", "failing" or "stale"
    last_success_at: datetime | None = None
    failure: str = ""
    failure_detail: str = ""
    warning: str = ""
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
        if row.gpu.pk in idle and row.holdings:
            row.idle_since = idle[row.gpu.pk]
            row.idle_holdings = row.holdings

    by_host: dict[int, list[Gpu]] = {}
    for gpu in gpus:
        by_host.setdefault(gpu.host_id, []).append(gpu)
    return [
        HostOverview(
            host=host,
            health=host_health(host, by_host.get(host.pk, []), now),
            gpus=[rows[gpu.pk] for gpu in by_host.get(host.pk, [])],
        )
        for host in hosts
    ]


# Container page.


@dataclass
class Series:
    """One line of a chart: (time, value) points, value None where there is no data."""

    label: str
    points: list[tuple[datetime, float | None]]

    def as_json(self) -> dict:
        return {
            "label": str(self.label),
            "points": [
                [moment.isoformat(), None if value is None else round(value, 1)] for moment, value in self.points
            ],
        }


@dataclass
class ContainerUsage:
    current: list[dict]
    memory_mib_now: int
    day_memory: list[Series]
    day_utilization: list[Series]
    week_memory: list[Series]
    week_utilization: list[Series]


def bucket_divisor(bucket: datetime, stride: timedelta, now: datetime) -> float:
    """Seconds of a bucket that have passed: its length, or less for the bucket holding `now`."""
    elapsed = (now - bucket).total_seconds()
    return max(1.0, min(stride.total_seconds(), elapsed))


def gpu_label(gpu: Gpu) -> str:
    return f"{gpu.host.name} GPU {gpu.index}"


def container_memory_series(container: Container, start: datetime, stride: timedelta, now: datetime, watermark):
    """Average memory held per bucket, per GPU: memory-seconds divided by the bucket's seconds."""
    totals: dict[tuple[int, datetime], int] = {}
    if stride >= WEEK_BUCKET and watermark is not None and watermark > start:
        rolled = (
            ContainerGpuHourlyRollup.objects.filter(container=container, hour__gte=start, hour__lt=watermark)
            .values("gpu_id", "hour")
            .annotate(total=Sum("memory_mib_seconds"))
            .order_by()
        )
        for row in rolled:
            totals[(row["gpu_id"], row["hour"])] = row["total"]
        raw_start = watermark
    else:
        raw_start = start
    raw = (
        ContainerGpuSample.objects.filter(container=container, taken_at__gte=raw_start)
        .annotate(bucket=date_bin(stride, "taken_at"))
        .values("gpu_id", "bucket")
        .annotate(total=Sum(memory_mib_seconds()))
        .order_by()
    )
    for row in raw:
        key = (row["gpu_id"], row["bucket"])
        totals[key] = totals.get(key, 0) + row["total"]
    return {key: total / bucket_divisor(key[1], stride, now) for key, total in totals.items()}


def gpu_utilization_series(gpu_ids, start: datetime, stride: timedelta, watermark) -> dict[tuple[int, datetime], float]:
    values: dict[tuple[int, datetime], float] = {}
    if not gpu_ids:
        return values
    if stride >= WEEK_BUCKET and watermark is not None and watermark > start:
        rolled = GpuHourlyRollup.objects.filter(gpu_id__in=gpu_ids, hour__gte=start, hour__lt=watermark).values_list(
            "gpu_id", "hour", "utilization_avg_percent"
        )
        for gpu_id, hour, utilization in rolled:
            if utilization is not None:
                values[(gpu_id, hour)] = utilization
        raw_start = watermark
    else:
        raw_start = start
    raw = (
        GpuSample.objects.filter(gpu_id__in=gpu_ids, taken_at__gte=raw_start)
        .annotate(bucket=date_bin(stride, "taken_at"))
        .values("gpu_id", "bucket")
        .annotate(utilization=Avg("utilization_percent"))
        .order_by()
    )
    for row in raw:
        if row["utilization"] is not None:
            values[(row["gpu_id"], row["bucket"])] = row["utilization"]
    return values


def bucket_starts(start: datetime, now: datetime, stride: timedelta) -> list[datetime]:
    offset = (start - BIN_ORIGIN) % stride
    moment = start - offset
    buckets = []
    while moment <= now:
        buckets.append(moment)
        moment += stride
    return buckets


def to_series(values: dict, gpus: dict[int, Gpu], buckets: list[datetime], fill) -> list[Series]:
    series = []
    for gpu_id in sorted({key[0] for key in values}, key=lambda pk: (gpus[pk].host_id, gpus[pk].index)):
        points = [(bucket, values.get((gpu_id, bucket), fill)) for bucket in buckets]
        series.append(Series(label=gpu_label(gpus[gpu_id]), points=points))
    return series


def container_usage(container: Container, now: datetime) -> ContainerUsage:
    """Return the container's GPU memory and its GPUs' utilisation, now and over the last day and week."""
    current_rows = GpuProcess.objects.filter(container=container).select_related("gpu__host")
    per_gpu: dict[int, dict] = {}
    for process in current_rows:
        entry = per_gpu.setdefault(process.gpu_id, {"gpu": process.gpu, "memory_mib": 0, "processes": 0})
        entry["memory_mib"] += process.used_memory_mib or 0
        entry["processes"] += 1
    current = sorted(per_gpu.values(), key=lambda entry: entry["gpu"].index)

    watermark = current_watermark()
    day_start = now - timedelta(days=1)
    week_start = floor_hour(now - timedelta(days=7))
    day_memory = container_memory_series(container, day_start, DAY_BUCKET, now, None)
    week_memory = container_memory_series(container, week_start, WEEK_BUCKET, now, watermark)

    gpu_ids = {key[0] for key in day_memory} | {key[0] for key in week_memory} | set(per_gpu)
    gpus = {gpu.pk: gpu for gpu in Gpu.objects.filter(pk__in=gpu_ids).select_related("host")}
    day_utilization = gpu_utilization_series(gpu_ids, day_start, DAY_BUCKET, None)
    week_utilization = gpu_utilization_series(gpu_ids, week_start, WEEK_BUCKET, watermark)

    day_buckets = bucket_starts(day_start, now, DAY_BUCKET)
    week_buckets = bucket_starts(week_start, now, WEEK_BUCKET)
    return ContainerUsage(
        current=current,
        memory_mib_now=sum(entry["memory_mib"] for entry in current),
        day_memory=to_series(day_memory, gpus, day_buckets, 0.0),
        day_utilization=to_series(day_utilization, gpus, day_buckets, None),
        week_memory=to_series(week_memory, gpus, week_buckets, 0.0),
        week_utilization=to_series(week_utilization, gpus, week_buckets, None),
    )


# Accounting page.


@dataclass
class UsageTotals:
    memory_mib_seconds: int = 0
    seconds: int = 0

    @property
    def memory_gib_hours(self) -> float:
        return self.memory_mib_seconds / 3600 / 1024

    @property
    def gpu_hours(self) -> float:
        return self.seconds / 3600

    def add(self, memory_mib_seconds: int, seconds: int) -> None:
        self.memory_mib_seconds += memory_mib_seconds or 0
        self.seconds += seconds or 0


@dataclass
class ContainerAccount:
    name: str
    project: str
    container_id: int | None
    owner_id: int | None
    owner_name: str
    totals: UsageTotals = field(default_factory=UsageTotals)


@dataclass
class MemberAccount:
    owner_id: int | None
    owner_name: str
    container_count: int = 0
    totals: UsageTotals = field(default_factory=UsageTotals)


ACCOUNT_FIELDS = (
    "container_id",
    "container__owner_id",
    "container__owner__username",
    "container__owner__first_name",
    "container__owner__last_name",
    "project",
    "instance",
)


def owner_display(row: dict) -> str:
    full_name = f"{row['container__owner__first_name']} {row['container__owner__last_name']}".strip()
    username = row["container__owner__username"]
    if not username:
        return ""
    return f"{full_name} ({username})" if full_name else username


def accounting(start: datetime, end: datetime) -> tuple[list[MemberAccount], list[ContainerAccount]]:
    """Return GPU memory-hours and GPU-hours per member and per container in [start, end).

    GPU-hours count the time a container held memory on a GPU, once per GPU,
    because nvidia-smi's report has no per-process utilisation. Instances the
    portal does not manage appear with no owner. Three queries.
    """
    watermark = current_watermark()
    parts = []
    if watermark is not None and watermark > start:
        parts.append(
            ContainerGpuHourlyRollup.objects.filter(hour__gte=start, hour__lt=min(end, watermark))
            .values(*ACCOUNT_FIELDS)
            .annotate(memory=Sum("memory_mib_seconds"), total_seconds=Sum("seconds"))
            .order_by()
        )
        raw_start = max(start, watermark)
    else:
        raw_start = start
    parts.append(
        ContainerGpuSample.objects.filter(taken_at__gte=raw_start, taken_at__lt=end)
        .values(*ACCOUNT_FIELDS)
        .annotate(memory=Sum(memory_mib_seconds()), total_seconds=Sum("seconds"))
        .order_by()
    )

    containers: dict[tuple, ContainerAccount] = {}
    for part in parts:
        for row in part:
            key = (row["container_id"], row["project"], row["instance"])
            account = containers.get(key)
            if account is None:
                account = ContainerAccount(
                    name=row["instance"],
                    project=row["project"],
                    container_id=row["container_id"],
                    owner_id=row["container__owner_id"],
                    owner_name=owner_display(row),
                )
                containers[key] = account
            account.totals.add(row["memory"], row["total_seconds"])

    members: dict[int | None, MemberAccount] = {}
    for account in containers.values():
        owner_id = account.owner_id
        member = members.setdefault(
            owner_id,
            MemberAccount(owner_id=owner_id, owner_name=account.owner_name or str(_("Not managed by the portal"))),
        )
        member.container_count += 1
        member.totals.add(account.totals.memory_mib_seconds, account.totals.seconds)

    def by_usage(item):
        return (-item.totals.memory_mib_seconds, -item.totals.seconds)

    return sorted(members.values(), key=by_usage), sorted(containers.values(), key=by_usage)
