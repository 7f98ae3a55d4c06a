"""The container page's chart series: averages over sampled time, gaps where nothing was sampled."""

from datetime import UTC, datetime, timedelta

import pytest

from gpus.queries import container_usage
from gpus.rollups import roll_up_and_prune
from tests.gpus.builders import add_history, make_gpus

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 5, tzinfo=UTC)


@pytest.fixture
def lab(gpu_host, member, make_container):
    gpu = make_gpus(gpu_host, 1, NOW)[0]
    return gpu, make_container(member, gpu_host, "zhangsan")


def points(series) -> dict[datetime, float | None]:
    return dict(series.points)


def test_day_memory_averages_over_sampled_time(lab):
    gpu, container = lab
    bucket = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    # The GPU is sampled every minute of the 10-minute bucket, the container
    # holds 1000 MiB during the first half only.
    add_history([gpu], [(gpu, container, 1000)], bucket, bucket + timedelta(minutes=5), timedelta(minutes=1))
    add_history([gpu], [], bucket + timedelta(minutes=5), bucket + timedelta(minutes=10), timedelta(minutes=1))

    usage = container_usage(container, NOW)

    assert points(usage.day_memory[0])[bucket] == pytest.approx(500)
    assert points(usage.day_utilization[0])[bucket] == pytest.approx(50)


def test_unsampled_bucket_is_a_gap(lab):
    gpu, container = lab
    start = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    add_history([gpu], [(gpu, container, 1000)], start, start + timedelta(minutes=10), timedelta(minutes=1))

    usage = container_usage(container, NOW)

    day = points(usage.day_memory[0])
    assert day[start] == pytest.approx(1000)
    assert day[start + timedelta(minutes=10)] is None
    assert points(usage.day_utilization[0])[start + timedelta(minutes=10)] is None


def test_week_memory_combines_rollups_and_raw(lab):
    gpu, container = lab
    add_history([gpu], [(gpu, container, 2048)], NOW - timedelta(days=2), NOW, timedelta(minutes=5))
    roll_up_and_prune(NOW)

    usage = container_usage(container, NOW)

    week = points(usage.week_memory[0])
    rolled_hour = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    raw_hour = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert week[rolled_hour] == pytest.approx(2048)
    assert week[raw_hour] == pytest.approx(2048)
    assert week[datetime(2026, 2, 27, 12, 0, tzinfo=UTC)] is None
