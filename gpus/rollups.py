"""Fold raw GPU samples into hourly roll-ups and prune both by their retention."""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, BigIntegerField, Count, ExpressionWrapper, F, Max, Min, Sum
from django.db.models.functions import Cast, TruncHour
from django.utils import timezone

from gpus.models import (
    ContainerGpuHourlyRollup,
    ContainerGpuSample,
    GpuHourlyRollup,
    GpuSample,
    HostSample,
    RollupWatermark,
)

logger = logging.getLogger(__name__)

# An hour is rolled up only this long after it ends, so that a collection
# that started before the hour ended has been stored by then.
MIN_ROLLUP_LAG = timedelta(minutes=5)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_lag() -> timedelta:
    return max(MIN_ROLLUP_LAG, timedelta(seconds=2 * settings.GPU_SAMPLE_INTERVAL))


def current_watermark() -> datetime | None:
    """Return the time before which roll-ups replace raw samples, or None before the first roll-up."""
    return RollupWatermark.objects.values_list("rolled_up_until", flat=True).first()


def roll_up_gpu_samples(start: datetime, end: datetime) -> int:
    rows = (
        GpuSample.objects.filter(taken_at__gte=start, taken_at__lt=end)
        .annotate(hour=TruncHour("taken_at", tzinfo=UTC))
        .values("gpu_id", "hour")
        .annotate(
            sample_count=Count("id"),
            seconds=Sum("seconds"),
            memory_used_avg_mib=Avg("memory_used_mib"),
            memory_used_max_mib=Max("memory_used_mib"),
            utilization_avg_percent=Avg("utilization_percent"),
            utilization_max_percent=Max("utilization_percent"),
            temperature_max_c=Max("temperature_c"),
            power_avg_w=Avg("power_draw_w"),
        )
        .order_by()
    )
    rollups = [GpuHourlyRollup(**row) for row in rows]
    GpuHourlyRollup.objects.bulk_create(rollups)
    return len(rollups)


def memory_mib_seconds():
    """Return the expression memory x seconds of a container sample, in 64 bits."""
    return ExpressionWrapper(Cast("memory_mib", BigIntegerField()) * F("seconds"), output_field=BigIntegerField())


def roll_up_container_samples(start: datetime, end: datetime) -> int:
    rows = (
        ContainerGpuSample.objects.filter(taken_at__gte=start, taken_at__lt=end)
        .annotate(hour=TruncHour("taken_at", tzinfo=UTC))
        .values("gpu_id", "hour", "container_id", "project", "instance")
        .annotate(
            # Named apart from the fields, so F("seconds") inside the sum
            # still means the sample's field and not this aggregate.
            total_samples=Count("id"),
            total_seconds=Sum("seconds"),
            peak_memory=Max("memory_mib"),
            total_memory_seconds=Sum(memory_mib_seconds()),
        )
        .order_by()
    )
    rollups = [
        ContainerGpuHourlyRollup(
            gpu_id=row["gpu_id"],
            hour=row["hour"],
            container_id=row["container_id"],
            project=row["project"],
            instance=row["instance"],
            sample_count=row["total_samples"],
            seconds=row["total_seconds"],
            memory_max_mib=row["peak_memory"],
            memory_mib_seconds=row["total_memory_seconds"],
        )
        for row in rows
    ]
    ContainerGpuHourlyRollup.objects.bulk_create(rollups)
    return len(rollups)


def initial_watermark(target: datetime) -> datetime:
    """Return where the first roll-up starts: the first raw sample's hour, after any existing roll-up."""
    first = GpuSample.objects.aggregate(first=Min("taken_at"))["first"]
    start = floor_hour(first) if first is not None else target
    # Roll-ups without a watermark row (the row was deleted by hand) must not
    # be computed twice.
    last_rollup = GpuHourlyRollup.objects.aggregate(last=Max("hour"))["last"]
    if last_rollup is not None:
        start = max(start, last_rollup + timedelta(hours=1))
    return min(start, target)


def roll_up_and_prune(now: datetime | None = None) -> dict[str, int]:
    """Roll up every complete hour not rolled up yet, then delete what is past retention.

    Raw samples are deleted only once they are rolled up, even if older than
    GPU_RAW_RETENTION_DAYS, so a roll-up task that was down loses nothing.
    Return counts for the log.
    """
    now = now or timezone.now()
    target = floor_hour(now - rollup_lag())
    counts = {"gpu_rollups": 0, "container_rollups": 0}

    with transaction.atomic():
        watermark, _ = RollupWatermark.objects.select_for_update().get_or_create(
            pk=1, defaults={"rolled_up_until": initial_watermark(target)}
        )
        start = watermark.rolled_up_until
        if start < target:
            counts["gpu_rollups"] = roll_up_gpu_samples(start, target)
            counts["container_rollups"] = roll_up_container_samples(start, target)
            watermark.rolled_up_until = target
            watermark.save(update_fields=["rolled_up_until"])

        raw_cutoff = min(now - timedelta(days=settings.GPU_RAW_RETENTION_DAYS), watermark.rolled_up_until)
        rollup_cutoff = now - timedelta(days=settings.GPU_ROLLUP_RETENTION_DAYS)
        counts["raw_deleted"] = (
            GpuSample.objects.filter(taken_at__lt=raw_cutoff).delete()[0]
            + ContainerGpuSample.objects.filter(taken_at__lt=raw_cutoff).delete()[0]
            + HostSample.objects.filter(taken_at__lt=raw_cutoff).delete()[0]
        )
        counts["rollups_deleted"] = (
            GpuHourlyRollup.objects.filter(hour__lt=rollup_cutoff).delete()[0]
            + ContainerGpuHourlyRollup.objects.filter(hour__lt=rollup_cutoff).delete()[0]
        )

    logger.info("GPU roll-up up to %s: %s", target.isoformat(), counts)
    return counts
