"""Approvals running at the same moment, each on its own database connection.

These tests commit for real (transaction=True), so the database, not a
Python lock, has to keep two approvals from sharing an address or approving
one request twice.
"""

import threading

import pytest
from django.db import connection, connections, transaction

from containers.errors import ServiceError
from containers.models import Address, AuditEntry, Container, ContainerRequest, ProvisioningJob
from containers.services import approve_request

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_at_once(functions) -> list:
    """Run each function in its own thread, released together; return each one's result or exception."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread raised
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_approvals_get_distinct_addresses(make_request, admin_user, broker, django_user_model):
    requests = [make_request(name=f"box-{number}", username=f"user{number}") for number in range(THREADS)]

    results = run_at_once([lambda pk=request.pk: approve_request(pk, admin_user) for request in requests])

    assert all(isinstance(result, Container) for result in results), results
    addresses = list(Address.objects.values_list("ip", flat=True))
    assert len(addresses) == THREADS
    assert len(set(addresses)) == THREADS
    # No address was skipped: the lowest ones were handed out.
    assert sorted(addresses, key=lambda ip: int(ip.rsplit(".", 1)[1])) == [
        f"198.18.0.{160 + number}" for number in range(THREADS)
    ]
    for request in requests:
        request.refresh_from_db()
        assert request.status == ContainerRequest.Status.APPROVED
        assert Container.objects.filter(request=request).count() == 1
    assert ProvisioningJob.objects.count() == THREADS


def test_concurrent_approvals_of_one_request_create_one_container(make_request, admin_user, broker):
    request = make_request()

    results = run_at_once([lambda: approve_request(request.pk, admin_user) for _ in range(4)])

    winners = [result for result in results if isinstance(result, Container)]
    losers = [result for result in results if isinstance(result, ServiceError)]
    assert len(winners) == 1
    assert len(losers) == 3
    assert all("no longer pending" in str(loser) for loser in losers)
    assert Container.objects.count() == 1
    assert ProvisioningJob.objects.count() == 1
    assert Address.objects.count() == 1
    assert AuditEntry.objects.filter(action="approve").count() == 1


def test_approval_moves_past_address_taken_by_uncommitted_approval(make_request, admin_user, broker, member):
    """An approval that picks an address another transaction is inserting waits, then takes the next one."""
    other = make_request(name="other-box", username="other", status=ContainerRequest.Status.APPROVED)
    other_container = Container.objects.create(
        request=other,
        owner=member,
        host=other.template.host,
        template=other.template,
        name=other.name,
        username=other.username,
    )
    request = make_request()
    inserted = threading.Event()
    release = threading.Event()

    def hold_lowest_address_uncommitted():
        try:
            with transaction.atomic():
                Address.objects.create(subnet=other.template.host.subnet, ip="198.18.0.160", container=other_container)
                inserted.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lowest_address_uncommitted)
    holder.start()
    assert inserted.wait(timeout=60)
    approval = {}

    def approve():
        try:
            approval["container"] = approve_request(request.pk, admin_user)
        except Exception as error:  # noqa: BLE001
            approval["error"] = error
        finally:
            connection.close()

    approver = threading.Thread(target=approve)
    approver.start()
    # The approval cannot see the uncommitted row, picks the same address and
    # blocks on the unique index; wait until PostgreSQL shows it waiting.
    with connections["default"].cursor() as cursor:
        for _ in range(600):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
            threading.Event().wait(0.1)
        else:
            pytest.fail("the approval never waited for the uncommitted address")
    release.set()
    holder.join()
    approver.join()

    assert "error" not in approval, approval
    assert approval["container"].address.ip == "198.18.0.161"
    assert set(Address.objects.values_list("ip", flat=True)) == {"198.18.0.160", "198.18.0.161"}
