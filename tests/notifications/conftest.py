"""Fixtures for the notification tests: a lab, requests in each state, and Celery modes.

The lab rows only exist in the database; no test here talks to LXD.
"""

import pytest
import redis
from django.conf import settings

from containers.models import Address, Container, ContainerRequest, Host, JobStep, ProvisioningJob, Subnet, Template
from portal.celery import app as celery_app

# The SHA-512 crypt hash of KNOWN_PASSWORD. Tests look for both in every e-mail.
KNOWN_PASSWORD = "Known-password-for-notification-tests-1"
KNOWN_HASH = (
    "$6$rounds=100000$oJoQUe/ql1s.eI4g$"
    "TFDqG6DQDR3r3i0L679nHasKTfSmfMLbCqTFMoh/U.OiYLJn/yFYnFLtw1QVB9tJifV.9qNYP.XmhRSIit/1j0"
)
CONTAINER_IP = "198.18.0.42"


@pytest.fixture
def template(db) -> Template:
    subnet = Subnet.objects.create(
        name="lab",
        cidr="198.18.0.0/24",
        gateway="198.18.0.1",
        dns_servers=["198.18.0.1"],
        bridge="portalbr0",
        range_start="198.18.0.10",
        range_end="198.18.0.99",
    )
    host = Host.objects.create(name="gpu1", endpoint="/var/lib/lxd/unix.socket", subnet=subnet, collects_gpu=False)
    return Template.objects.create(name="Debian 12", host=host)


@pytest.fixture
def make_request(member, template):
    """Return a factory of pending requests, by `member` unless another user is given."""

    def make(name: str = "alice-box", username: str = "alice", user=None, **fields) -> ContainerRequest:
        return ContainerRequest.objects.create(
            member=user or member,
            template=template,
            name=name,
            username=username,
            password_hash=fields.pop("password_hash", KNOWN_HASH),
            reason=fields.pop("reason", "Training a model for my thesis."),
            **fields,
        )

    return make


@pytest.fixture
def pending_request(make_request) -> ContainerRequest:
    return make_request()


@pytest.fixture
def approved_container(pending_request, admin_user) -> Container:
    """A container for the member's approved request, holding CONTAINER_IP, with a provisioning job."""
    pending_request.transition(ContainerRequest.Status.APPROVED, decided_by=admin_user)
    template = pending_request.template
    container = Container.objects.create(
        request=pending_request,
        owner=pending_request.member,
        host=template.host,
        template=template,
        name=pending_request.name,
        username=pending_request.username,
    )
    Address.objects.create(subnet=template.host.subnet, ip=CONTAINER_IP, container=container)
    job = ProvisioningJob.objects.create(container=container)
    for position, name in enumerate(["copy", "configure", "start", "push_script", "run_script"], start=1):
        JobStep.objects.create(job=job, position=position, name=name)
    return container


@pytest.fixture
def chinese_member(member):
    member.language = "zh-hans"
    member.save(update_fields=["language"])
    return member


@pytest.fixture
def celery_eager():
    """Run tasks in the calling thread when they are queued, retries included (without their delay)."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield celery_app
    celery_app.conf.task_always_eager = saved


@pytest.fixture
def broker():
    """The Redis database the Celery broker uses, with the task queue emptied before and after."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client.delete(queue)
    yield client
    client.delete(queue)
    client.close()


@pytest.fixture
def unreachable_broker():
    """Point Celery at a loopback port where nothing listens, so queueing a task fails."""
    saved = celery_app.conf.broker_url
    _use_broker("redis://127.0.0.1:1/0")
    yield
    _use_broker(saved)


def _use_broker(url: str) -> None:
    celery_app.conf.broker_url = url
    # Celery caches its connection and producer pools on first use; dropping
    # them makes the next task message open a connection to the new URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
