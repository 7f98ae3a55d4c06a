"""Hourly roll-ups, pruning by retention, and accounting across both."""

from datetime import UTC, datetime, timedelta

import pytest

from gpus.models import (
    ContainerGpuHourlyRollup,
    ContainerGpuSample,
    GpuHourlyRollup,
    GpuSample,
    HostSample,
    RollupWatermark,
)
from gpus.queries import account_usage
from gpus.rollups import roll_up_and_prune
from tests.gpus.builders import add_history, make_gpus

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 10, 12, 34, tzinfo=UTC)


@pytest.fixture
def lab(gpu_host, member, make_container):
    gpu = make_gpus(gpu_host, 1, NOW)[0]
    container = make_container(member, gpu_host, "zhangsan")
    return gpu, container


def test_complete_hours_are_rolled_up(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 512)], datetime(2026, 1, 10, 9, tzinfo=UTC), NOW, timedelta(seconds=30))

    roll_up_and_prune(NOW)

    rollups = list(GpuHourlyRollup.objects.order_by("hour"))
    assert [rollup.hour.hour for rollup in rollups] == [9, 10, 11]
    assert [rollup.sample_count for rollup in rollups] == [120, 120, 120]
    assert rollups[0].utilization_avg_percent == 50
    assert rollups[0].seconds == 3600
    per_container = list(ContainerGpuHourlyRollup.objects.order_by("hour"))
    assert [rollup.memory_mib_seconds for rollup in per_container] == [512 * 3600] * 3
    assert per_container[0].container == container
    assert RollupWatermark.objects.get().rolled_up_until == datetime(2026, 1, 10, 12, tzinfo=UTC)


def test_second_run_adds_nothing(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 512)], datetime(2026, 1, 10, 9, tzinfo=UTC), NOW, timedelta(seconds=30))
    roll_up_and_prune(NOW)

    roll_up_and_prune(NOW + timedelta(minutes=10))

    assert GpuHourlyRollup.objects.count() == 3
    assert ContainerGpuHourlyRollup.objects.count() == 3


def test_hour_is_rolled_up_only_after_lag(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 512)], datetime(2026, 1, 10, 11, tzinfo=UTC), NOW, timedelta(minutes=1))

    roll_up_and_prune(datetime(2026, 1, 10, 12, 2, tzinfo=UTC))

    assert not GpuHourlyRollup.objects.exists()


def test_old_raw_samples_are_rolled_up_before_deletion(lab, settings):
    settings.GPU_RAW_RETENTION_DAYS = 7
    gpu, container = lab
    old_start = NOW - timedelta(days=10)
    add_history([gpu], [(gpu, container, 256)], old_start, old_start + timedelta(hours=2), timedelta(minutes=1))
    add_history([gpu], [(gpu, container, 256)], NOW - timedelta(hours=1), NOW, timedelta(minutes=1))

    roll_up_and_prune(NOW)

    assert not GpuSample.objects.filter(taken_at__lt=NOW - timedelta(days=7)).exists()
    assert not ContainerGpuSample.objects.filter(taken_at__lt=NOW - timedelta(days=7)).exists()
    assert not HostSample.objects.filter(taken_at__lt=NOW - timedelta(days=7)).exists()
    # 12:34 to 14:34 ten days ago touches three clock hours.
    assert GpuHourlyRollup.objects.filter(hour__lt=NOW - timedelta(days=7)).count() == 3
    assert GpuSample.objects.filter(taken_at__gte=NOW - timedelta(hours=1)).count() == 60


def test_raw_samples_not_rolled_up_are_kept(lab, settings):
    settings.GPU_RAW_RETENTION_DAYS = 1
    gpu, container = lab
    start = NOW - timedelta(days=3)
    add_history([gpu], [(gpu, container, 256)], start, start + timedelta(hours=1), timedelta(minutes=10))
    # The roll-up reached only up to just after these samples.
    RollupWatermark.objects.create(rolled_up_until=start)

    roll_up_and_prune(start + timedelta(hours=1, minutes=1))

    assert GpuSample.objects.count() == 6


def test_rollups_past_retention_are_deleted(lab, settings):
    settings.GPU_ROLLUP_RETENTION_DAYS = 30
    gpu, container = lab
    add_history([gpu], [(gpu, container, 256)], NOW - timedelta(days=40), NOW, timedelta(hours=1))

    roll_up_and_prune(NOW)

    oldest = GpuHourlyRollup.objects.order_by("hour").first().hour
    assert oldest >= NOW - timedelta(days=30)
    assert not ContainerGpuHourlyRollup.objects.filter(hour__lt=NOW - timedelta(days=30)).exists()


def test_accounting_counts_rolled_and_raw_hours_once(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 1024)], datetime(2026, 1, 10, 8, tzinfo=UTC), NOW, timedelta(seconds=30))
    period = (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC))
    before_members, before_containers = account_usage(*period)

    roll_up_and_prune(NOW)
    members, containers = account_usage(*period)

    expected_seconds = (4 * 3600) + 34 * 60
    assert containers[0].totals.seconds == expected_seconds
    assert containers[0].totals.memory_mib_seconds == 1024 * expected_seconds
    assert containers[0].totals.memory_gib_hours == pytest.approx(expected_seconds / 3600)
    assert before_containers[0].totals.seconds == expected_seconds
    assert members[0].owner_name == "Alice (alice)"
    assert members[0].totals.gpu_hours == pytest.approx(expected_seconds / 3600)
    assert before_members[0].totals.memory_mib_seconds == members[0].totals.memory_mib_seconds


def test_accounting_respects_period_bounds(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 1024)], datetime(2026, 1, 10, 8, tzinfo=UTC), NOW, timedelta(minutes=1))
    roll_up_and_prune(NOW)

    _, containers = account_usage(datetime(2026, 1, 10, 9, tzinfo=UTC), datetime(2026, 1, 10, 12, 30, tzinfo=UTC))

    assert containers[0].totals.seconds == 3 * 3600 + 30 * 60


def test_lost_watermark_does_not_roll_up_twice(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 512)], datetime(2026, 1, 10, 9, tzinfo=UTC), NOW, timedelta(minutes=1))
    roll_up_and_prune(NOW)
    RollupWatermark.objects.all().delete()

    roll_up_and_prune(NOW + timedelta(hours=1))

    assert GpuHourlyRollup.objects.filter(hour=datetime(2026, 1, 10, 9, tzinfo=UTC)).count() == 1
    assert GpuHourlyRollup.objects.filter(hour=datetime(2026, 1, 10, 12, tzinfo=UTC)).count() == 1
