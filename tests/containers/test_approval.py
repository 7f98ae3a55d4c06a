"""Approving, rejecting and cancelling requests: what the database holds afterwards."""

import base64
import json

import pytest
from django.core.exceptions import PermissionDenied

from containers import services
from containers.errors import ServiceError
from containers.models import (
    Address,
    AuditEntry,
    Container,
    ContainerRequest,
    Host,
    JobStep,
    ProvisioningJob,
)
from containers.services import approve_request, cancel_request, reject_request

pytestmark = pytest.mark.django_db


def hold_address(make_request, ip: str, name: str) -> Address:
    """Give `ip` to a container of another, already approved request."""
    request = make_request(name=name, username=name.replace("-", "_"), status=ContainerRequest.Status.APPROVED)
    container = Container.objects.create(
        request=request,
        owner=request.member,
        host=request.template.host,
        template=request.template,
        name=request.name,
        username=request.username,
    )
    return Address.objects.create(subnet=request.template.host.subnet, ip=ip, container=container)


def assert_nothing_changed(request: ContainerRequest) -> None:
    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.PENDING
    assert request.decided_by is None
    assert not Container.objects.filter(request=request).exists()
    assert not ProvisioningJob.objects.filter(container__request=request).exists()
    assert not AuditEntry.objects.filter(request=request).exists()


def test_approve_reserves_lowest_free_ip(make_request, admin_user, subnet):
    request = make_request()

    container = approve_request(request.pk, admin_user)

    assert container.address.ip == subnet.range_start
    assert container.address.subnet == subnet


def test_approve_skips_held_and_excluded_addresses(make_request, admin_user, subnet):
    subnet.excluded = "198.18.0.162-198.18.0.164\n198.18.0.166"
    subnet.save()
    hold_address(make_request, "198.18.0.160", "held-one")
    hold_address(make_request, "198.18.0.161", "held-two")
    hold_address(make_request, "198.18.0.165", "held-three")

    container = approve_request(make_request().pk, admin_user)

    assert container.address.ip == "198.18.0.167"


def test_approve_skips_address_of_a_host(make_request, admin_user, subnet, host):
    Host.objects.create(name="gpu2", endpoint="/nonexistent.socket", address=subnet.range_start, subnet=subnet)

    container = approve_request(make_request().pk, admin_user)

    assert container.address.ip != subnet.range_start


def test_approve_rejects_chosen_address_of_a_host(make_request, admin_user, subnet, host):
    Host.objects.create(name="gpu2", endpoint="/nonexistent.socket", address=subnet.range_start, subnet=subnet)
    request = make_request()

    with pytest.raises(ServiceError, match="address of a host"):
        approve_request(request.pk, admin_user, ip=subnet.range_start)

    assert_nothing_changed(request)


def test_approve_reuses_lowest_address_freed_earlier(make_request, admin_user, subnet):
    hold_address(make_request, "198.18.0.161", "held-one")

    container = approve_request(make_request().pk, admin_user)

    assert container.address.ip == "198.18.0.160"


def test_approve_creates_container_job_steps_and_audit(make_request, admin_user, member):
    request = make_request()

    container = approve_request(request.pk, admin_user)

    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.APPROVED
    assert request.decided_by == admin_user
    assert request.decided_at is not None
    assert container.status == Container.Status.PROVISIONING
    assert container.owner == member
    assert container.name == "alice-box"
    assert container.username == "alice"
    assert container.host == request.template.host

    job = container.jobs.get()
    assert job.kind == ProvisioningJob.Kind.PROVISION
    assert job.status == ProvisioningJob.Status.QUEUED
    assert list(job.steps.values_list("name", flat=True)) == list(services.PROVISION_STEPS)
    assert set(job.steps.values_list("status", flat=True)) == {JobStep.Status.PENDING}

    entry = AuditEntry.objects.get(request=request)
    assert entry.action == "approve"
    assert entry.actor == admin_user
    assert entry.container == container
    assert container.address.ip in entry.detail


def test_approve_keeps_password_hash_for_the_worker(make_request, admin_user, password_hash):
    request = make_request()

    approve_request(request.pk, admin_user)

    request.refresh_from_db()
    assert request.password_hash == password_hash


def test_approve_honours_chosen_ip(make_request, admin_user):
    request = make_request()

    container = approve_request(request.pk, admin_user, ip="198.18.0.190")

    assert container.address.ip == "198.18.0.190"


def test_approve_accepts_chosen_ip_with_spaces(make_request, admin_user):
    container = approve_request(make_request().pk, admin_user, ip=" 198.18.0.170 ")

    assert container.address.ip == "198.18.0.170"


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("198.18.1.10", "outside subnet"),
        ("10.0.0.5", "outside subnet"),
        ("198.18.0.50", "outside the range"),
        ("198.18.0.200", "outside the range"),
        ("198.18.0.1", "gateway"),
        ("198.18.0.0", "network or broadcast"),
        ("198.18.0.255", "network or broadcast"),
        ("198.18.0.175", "excluded"),
        ("not-an-address", "not an IPv4 address"),
        ("198.18.0.300", "not an IPv4 address"),
        ("fe80::1", "not an IPv4 address"),
        ("198.18.0.180; reboot", "not an IPv4 address"),
    ],
)
def test_approve_rejects_bad_chosen_ip(make_request, admin_user, subnet, ip, message):
    subnet.excluded = "198.18.0.175"
    subnet.save()
    request = make_request()

    with pytest.raises(ServiceError) as raised:
        approve_request(request.pk, admin_user, ip=ip)

    assert message in str(raised.value)
    assert_nothing_changed(request)
    assert not Address.objects.exists()


def test_approve_rejects_chosen_ip_already_held(make_request, admin_user):
    held = hold_address(make_request, "198.18.0.170", "held-one")
    request = make_request()

    with pytest.raises(ServiceError) as raised:
        approve_request(request.pk, admin_user, ip="198.18.0.170")

    assert "already held" in str(raised.value)
    assert_nothing_changed(request)
    assert list(Address.objects.values_list("pk", flat=True)) == [held.pk]


def test_approve_rejects_full_subnet(make_request, admin_user, subnet):
    subnet.range_end = "198.18.0.161"
    subnet.save()
    hold_address(make_request, "198.18.0.160", "held-one")
    hold_address(make_request, "198.18.0.161", "held-two")
    request = make_request()

    with pytest.raises(ServiceError) as raised:
        approve_request(request.pk, admin_user)

    assert "no free address" in str(raised.value)
    assert_nothing_changed(request)


def test_approve_rejects_host_without_subnet(make_request, admin_user, host):
    host.subnet = None
    host.save()
    request = make_request()

    with pytest.raises(ServiceError) as raised:
        approve_request(request.pk, admin_user)

    assert "has no subnet" in str(raised.value)
    assert_nothing_changed(request)


def test_approve_rejects_name_of_live_container(make_request, admin_user):
    hold_address(make_request, "198.18.0.170", "alice-box")
    request = make_request(name="alice-box")

    with pytest.raises(ServiceError) as raised:
        approve_request(request.pk, admin_user)

    assert "already exists" in str(raised.value)
    assert_nothing_changed(request)
    assert Address.objects.count() == 1


@pytest.mark.parametrize(
    "status",
    [ContainerRequest.Status.APPROVED, ContainerRequest.Status.REJECTED, ContainerRequest.Status.CANCELLED],
)
def test_approve_rejects_request_not_pending(make_request, admin_user, status):
    request = make_request(status=status)

    with pytest.raises(ServiceError) as raised:
        approve_request(request.pk, admin_user)

    assert "no longer pending" in str(raised.value)
    request.refresh_from_db()
    assert request.status == status
    assert not Container.objects.exists()
    assert not Address.objects.exists()
    assert not AuditEntry.objects.exists()


def test_approve_twice_creates_one_container(make_request, admin_user):
    request = make_request()
    approve_request(request.pk, admin_user)

    with pytest.raises(ServiceError):
        approve_request(request.pk, admin_user)

    assert Container.objects.count() == 1
    assert ProvisioningJob.objects.count() == 1
    assert Address.objects.count() == 1


def queued_tasks(broker) -> list[tuple[str, list]]:
    """Return (task name, positional arguments) of every message waiting in the task queue."""
    tasks = []
    for raw in broker.lrange("portal", 0, -1):
        message = json.loads(raw)
        arguments = json.loads(base64.b64decode(message["body"]))[0]
        tasks.append((message["headers"]["task"], arguments))
    return tasks


def test_approve_enqueues_only_after_commit(make_request, admin_user, broker, django_capture_on_commit_callbacks):
    request = make_request()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        container = approve_request(request.pk, admin_user)
    assert callbacks
    assert broker.llen("portal") == 0

    for callback in callbacks:
        callback()

    provision_tasks = [task for task in queued_tasks(broker) if task[0] == "containers.tasks.provision_container"]
    assert provision_tasks == [("containers.tasks.provision_container", [container.jobs.get().pk])]


def test_failed_approval_enqueues_nothing(make_request, admin_user, broker, django_capture_on_commit_callbacks):
    request = make_request(status=ContainerRequest.Status.CANCELLED)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ServiceError):
        approve_request(request.pk, admin_user)

    assert callbacks == []
    assert broker.llen("portal") == 0


def test_reject_records_reason_and_drops_hash(make_request, admin_user):
    request = make_request()

    reject_request(request.pk, admin_user, "  Use your university login as the username.  ")

    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.REJECTED
    assert request.rejection_reason == "Use your university login as the username."
    assert request.decided_by == admin_user
    assert request.password_hash == ""
    assert AuditEntry.objects.get(request=request).action == "reject"


def test_reject_needs_reason(make_request, admin_user):
    request = make_request()

    with pytest.raises(ServiceError):
        reject_request(request.pk, admin_user, "   ")

    assert_nothing_changed(request)


def test_reject_of_approved_request_fails(make_request, admin_user):
    request = make_request()
    approve_request(request.pk, admin_user)

    with pytest.raises(ServiceError) as raised:
        reject_request(request.pk, admin_user, "Too late.")

    assert "no longer pending" in str(raised.value)
    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.APPROVED
    assert request.rejection_reason == ""


def test_cancel_by_member_withdraws_request(make_request, member):
    request = make_request()

    cancel_request(request.pk, member)

    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.CANCELLED
    assert request.password_hash == ""
    assert AuditEntry.objects.get(request=request).actor == member


def test_cancel_by_other_member_is_denied(make_request, other_member):
    request = make_request()

    with pytest.raises(PermissionDenied):
        cancel_request(request.pk, other_member)

    assert_nothing_changed(request)


def test_cancel_of_approved_request_fails(make_request, member, admin_user):
    request = make_request()
    approve_request(request.pk, admin_user)

    with pytest.raises(ServiceError):
        cancel_request(request.pk, member)

    request.refresh_from_db()
    assert request.status == ContainerRequest.Status.APPROVED
