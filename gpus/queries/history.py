"""The container page: its GPU memory and its GPUs' utilisation, now and over a day and a week."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, DateTimeField, F, Func, Sum, Value

from containers.models import Container
from gpus.models import ContainerGpuHourlyRollup, ContainerGpuSample, Gpu, GpuHourlyRollup, GpuProcess, GpuSample
from gpus.rollups import current_watermark, floor_hour, memory_mib_seconds

DAY_BUCKET = timedelta(minutes=10)
WEEK_BUCKET = timedelta(hours=1)
# Buckets start at whole multiples of their length from this moment, in UTC.
BIN_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def date_bin(stride: timedelta, field_name: str) -> Func:
    """Return PostgreSQL's date_bin(): the start of the `stride`-long bucket that contains the field's time."""
    return Func(Value(stride), F(field_name), Value(BIN_ORIGIN), function="date_bin", output_field=DateTimeField())


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


def gpu_label(gpu: Gpu) -> str:
    return f"{gpu.host.name} GPU {gpu.index}"


def container_memory_seconds(container: Container, start: datetime, stride: timedelta, watermark):
    """Return memory x seconds the container held per (GPU, bucket), from roll-ups before `watermark`, raw after."""
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
    return totals


def gpu_bucket_stats(gpu_ids, start: datetime, stride: timedelta, watermark) -> dict[tuple[int, datetime], tuple]:
    """Return (average utilisation or None, sampled seconds) per (GPU, bucket)."""
    stats: dict[tuple[int, datetime], tuple] = {}
    if not gpu_ids:
        return stats
    if stride >= WEEK_BUCKET and watermark is not None and watermark > start:
        rolled = GpuHourlyRollup.objects.filter(gpu_id__in=gpu_ids, hour__gte=start, hour__lt=watermark).values_list(
            "gpu_id", "hour", "utilization_avg_percent", "seconds"
        )
        for gpu_id, hour, utilization, seconds in rolled:
            stats[(gpu_id, hour)] = (utilization, seconds)
        raw_start = watermark
    else:
        raw_start = start
    raw = (
        GpuSample.objects.filter(gpu_id__in=gpu_ids, taken_at__gte=raw_start)
        .annotate(bucket=date_bin(stride, "taken_at"))
        .values("gpu_id", "bucket")
        .annotate(utilization=Avg("utilization_percent"), sampled=Sum("seconds"))
        .order_by()
    )
    for row in raw:
        stats[(row["gpu_id"], row["bucket"])] = (row["utilization"], row["sampled"])
    return stats


def average_memory(totals: dict, stats: dict) -> dict[tuple[int, datetime], float | None]:
    """Return the container's average memory per (GPU, bucket) over the time its GPU was sampled.

    A sample's memory counts for the span that ends at the sample, so a
    bucket's memory-seconds are divided by the GPU's sampled seconds in the
    same bucket. A bucket where the GPU was sampled without the container
    is 0, and one where it was not sampled at all is a gap (None).
    """
    gpu_ids = {key[0] for key in totals}
    averages: dict[tuple[int, datetime], float | None] = {}
    for key, (_, sampled) in stats.items():
        if key[0] in gpu_ids and sampled:
            averages[key] = totals.get(key, 0) / sampled
    return averages


def bucket_starts(start: datetime, now: datetime, stride: timedelta) -> list[datetime]:
    offset = (start - BIN_ORIGIN) % stride
    moment = start - offset
    buckets = []
    while moment <= now:
        buckets.append(moment)
        moment += stride
    return buckets


def utilization_by_bucket(stats: dict) -> dict[tuple[int, datetime], float | None]:
    return {key: average for key, (average, _) in stats.items()}


def to_series(values: dict, gpus: dict[int, Gpu], buckets: list[datetime]) -> list[Series]:
    """Return one series per GPU with a point per bucket; a bucket without a value is a gap."""
    series = []
    gpu_ids = {key[0] for key, value in values.items() if value is not None}
    for gpu_id in sorted(gpu_ids, key=lambda pk: (gpus[pk].host_id, gpus[pk].index)):
        points = [(bucket, values.get((gpu_id, bucket))) for bucket in buckets]
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
    day_memory = container_memory_seconds(container, day_start, DAY_BUCKET, None)
    week_memory = container_memory_seconds(container, week_start, WEEK_BUCKET, watermark)

    gpu_ids = {key[0] for key in day_memory} | {key[0] for key in week_memory} | set(per_gpu)
    gpus = {gpu.pk: gpu for gpu in Gpu.objects.filter(pk__in=gpu_ids).select_related("host")}
    day_stats = gpu_bucket_stats(gpu_ids, day_start, DAY_BUCKET, None)
    week_stats = gpu_bucket_stats(gpu_ids, week_start, WEEK_BUCKET, watermark)

    day_buckets = bucket_starts(day_start, now, DAY_BUCKET)
    week_buckets = bucket_starts(week_start, now, WEEK_BUCKET)
    return ContainerUsage(
        current=current,
        memory_mib_now=sum(entry["memory_mib"] for entry in current),
        day_memory=to_series(average_memory(day_memory, day_stats), gpus, day_buckets),
        day_utilization=to_series(utilization_by_bucket(day_stats), gpus, day_buckets),
        week_memory=to_series(average_memory(week_memory, week_stats), gpus, week_buckets),
        week_utilization=to_series(utilization_by_bucket(week_stats), gpus, week_buckets),
    )
