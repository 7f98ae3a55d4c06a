"""Each GPU page runs the same number of queries for a small and a large lab with long history."""

import pytest
from django.urls import reverse

from containers.models import Host
from tests.gpus.builders import populate

pytestmark = pytest.mark.django_db

SIZES = {
    # (hosts, GPUs per host, containers, hours of history)
    "small": (1, 1, 1, 1),
    "large": (2, 4, 12, 72),
}

# Session and user (2), then the page's own queries. Staff pages add one
# query that counts the failed e-mails for the badge in the navigation.
STAFF_NAVIGATION_QUERIES = 1
OVERVIEW_MEMBER_QUERIES = 2 + 3
OVERVIEW_ADMIN_QUERIES = 2 + 4 + STAFF_NAVIGATION_QUERIES
CONTAINER_PAGE_QUERIES = 2 + 10
ACCOUNTING_QUERIES = 2 + 3 + STAFF_NAVIGATION_QUERIES


@pytest.fixture(params=sorted(SIZES))
def sized_lab(request, member, make_container):
    host_count, gpus_per_host, container_count, hours = SIZES[request.param]
    hosts = [Host.objects.create(name=f"gpu{n}", endpoint="/var/lib/lxd/unix.socket") for n in range(host_count)]
    containers = [make_container(member, hosts[n % host_count], f"box{n}") for n in range(container_count)]
    populate(hosts, gpus_per_host, containers, hours)
    return containers


def test_overview_queries_fixed_for_member(member_client, sized_lab, django_assert_num_queries):
    with django_assert_num_queries(OVERVIEW_MEMBER_QUERIES):
        response = member_client.get(reverse("gpus:overview"))
    assert response.status_code == 200


def test_overview_queries_fixed_for_admin(staff_client, sized_lab, django_assert_num_queries):
    with django_assert_num_queries(OVERVIEW_ADMIN_QUERIES):
        response = staff_client.get(reverse("gpus:overview"))
    assert response.status_code == 200


def test_container_page_queries_fixed(member_client, sized_lab, django_assert_num_queries):
    with django_assert_num_queries(CONTAINER_PAGE_QUERIES):
        response = member_client.get(reverse("gpus:container_gpu", args=[sized_lab[0].pk]))
    assert response.status_code == 200


def test_accounting_queries_fixed(staff_client, sized_lab, django_assert_num_queries):
    with django_assert_num_queries(ACCOUNTING_QUERIES):
        response = staff_client.get(reverse("gpus:accounting"))
    assert response.status_code == 200
