"""Lab fixtures for the container tests: a subnet, a host, a template and requests.

The subnet is the project's test bridge network (198.18.0.0/24 on portalbr0).
Tests that build real containers run beside other test runs on the same
bridge, so each run hands out addresses from its own slice of the subnet,
set with PORTAL_TEST_ADDRESS_RANGE ("first-last").
"""

import os

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from containers.models import ContainerRequest, Host, Subnet, Template
from containers.passwords import make_crypt_hash
from portal.celery import app as celery_app
from tests.lxd_fixtures import *  # noqa: F403
from tests.lxd_fixtures import LXD_SOCKET, TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE

LXD_PROJECT = os.environ.get("PORTAL_TEST_LXD_PROJECT", "portal-test")
ADDRESS_RANGE = os.environ.get("PORTAL_TEST_ADDRESS_RANGE", "198.18.0.160-198.18.0.199")
CONTAINER_PASSWORD = "Lab-gpu-container-7f3k"


@pytest.fixture
def subnet(db) -> Subnet:
    first, last = ADDRESS_RANGE.split("-")
    return Subnet.objects.create(
        name="lab",
        cidr="198.18.0.0/24",
        gateway="198.18.0.1",
        dns_servers=["198.18.0.1"],
        bridge="portalbr0",
        range_start=first,
        range_end=last,
    )


@pytest.fixture
def host(subnet) -> Host:
    return Host.objects.create(
        name="gpu1",
        endpoint=LXD_SOCKET,
        project=LXD_PROJECT,
        address="198.18.0.1",
        subnet=subnet,
        collects_gpu=False,
    )


@pytest.fixture
def template(host) -> Template:
    return Template.objects.create(
        name="Debian 12",
        host=host,
        source=TEMPLATE_SOURCE,
        snapshot=TEMPLATE_SNAPSHOT,
        default_user="tmp",
        cpu_limit=2,
        memory_limit="1GiB",
    )


@pytest.fixture
def password_hash() -> str:
    return make_crypt_hash(CONTAINER_PASSWORD)


@pytest.fixture
def make_request(member, template, password_hash):
    """Return a factory of pending requests by `member` (or another user) for the template."""

    def make(name: str = "alice-box", username: str = "alice", ssh_keys: str = "", user=None, **fields):
        return ContainerRequest.objects.create(
            member=user or member,
            template=template,
            name=name,
            username=username,
            password_hash=fields.pop("password_hash", password_hash),
            ssh_keys=ssh_keys,
            reason="Training a model for my thesis.",
            **fields,
        )

    return make


@pytest.fixture
def broker():
    """The Redis database the Celery broker uses, with the task queue emptied before and after.

    kombu's "unacked" keys contain the messages of a worker that was killed.
    They are deleted too, so that no test receives another test's job.
    """
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = (settings.CELERY_TASK_DEFAULT_QUEUE, "unacked", "unacked_index")
    client.delete(*keys)
    yield client
    client.delete(*keys)
    client.close()


@pytest.fixture
def worker(broker):
    """A Celery worker in a thread of the test process, consuming the real Redis queue.

    It reads the database on its own connection, so tests that use it need
    committed rows: `pytest.mark.django_db(transaction=True)`.
    """
    with start_worker(celery_app, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60):
        yield
