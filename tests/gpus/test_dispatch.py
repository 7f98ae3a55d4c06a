"""Beat's dispatcher puts one collection per GPU host on that host's own Redis queue."""

import base64
import json

import pytest
import redis
from django.conf import settings

from containers.models import Host
from gpus.tasks import dispatch_gpu_collection
from portal.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    """The Redis database of this test run's broker, with the GPU queues emptied before and after."""
    connection = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queues = ["gpu.alpha", "gpu.beta", "gpu.gamma", "gpu.delta"]
    connection.delete(*queues)
    yield connection
    connection.delete(*queues)


def queued_messages(connection, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in connection.lrange(queue, 0, -1)]


def test_dispatch_sends_to_each_collecting_host_queue(broker):
    assert not celery_app.conf.task_always_eager
    alpha = Host.objects.create(name="alpha", endpoint="/var/lib/lxd/unix.socket")
    beta = Host.objects.create(name="beta", endpoint="/var/lib/lxd/unix.socket")
    Host.objects.create(name="gamma", endpoint="/var/lib/lxd/unix.socket", collects_gpu=False)
    Host.objects.create(name="delta", endpoint="/var/lib/lxd/unix.socket", is_active=False)

    count = dispatch_gpu_collection()

    assert count == 2
    for host in (alpha, beta):
        messages = queued_messages(broker, host.gpu_queue)
        assert len(messages) == 1
        assert messages[0]["headers"]["task"] == "gpus.tasks.collect_gpu_samples"
        args, _kwargs, _embed = json.loads(base64.b64decode(messages[0]["body"]))
        assert args == [host.pk]
        assert messages[0]["headers"]["expires"] is not None
    assert broker.llen("gpu.gamma") == 0
    assert broker.llen("gpu.delta") == 0


def test_beat_schedule_dispatches_every_sample_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["gpu-dispatch-collection"]

    assert entry["task"] == "gpus.tasks.dispatch_gpu_collection"
    assert entry["schedule"] == settings.GPU_SAMPLE_INTERVAL
    assert settings.CELERY_BEAT_SCHEDULE["gpu-roll-up"]["task"] == "gpus.tasks.roll_up_gpu_samples"
