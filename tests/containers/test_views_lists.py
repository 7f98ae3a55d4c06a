"""List pages: what they show, who may open them, and query counts that do not grow with rows."""

import pytest
from django.urls import reverse

from containers.models import Container, ContainerRequest, Host, Subnet
from containers.services import approve_request

pytestmark = pytest.mark.django_db

# Every staff page counts the failed e-mails for the badge in its navigation.
STAFF_NAVIGATION_QUERIES = 1


def make_requests(make_request, user, count: int, admin=None, start: int = 0) -> list[ContainerRequest]:
    """Create `count` requests by `user`; with `admin`, every second one is approved."""
    requests = []
    for number in range(start, start + count):
        request = make_request(name=f"{user.username}-box-{number}", username=f"user{number}", user=user)
        if admin is not None and number % 2:
            approve_request(request.pk, admin)
        requests.append(request)
    return requests


# Dashboard


def test_dashboard_redirects_anonymous_to_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_dashboard_empty_state_points_to_request_form(member_client):
    response = member_client.get(reverse("home"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "You have no container yet." in content
    assert reverse("containers:request_create") in content


def test_dashboard_lists_only_own_requests(member_client, make_request, member, other_member):
    make_request(name="alice-box")
    make_request(name="bob-box", user=other_member, username="bob")

    content = member_client.get(reverse("home")).content.decode()

    assert "alice-box" in content
    assert "bob-box" not in content


def test_dashboard_shows_ready_container_with_ssh_command(member_client, make_request, admin_user):
    container = approve_request(make_request().pk, admin_user)
    container.transition(Container.Status.READY)

    content = member_client.get(reverse("home")).content.decode()

    assert f"ssh alice@{container.address.ip}" in content
    assert 'class="badge badge-ready"' in content


def test_dashboard_query_count_does_not_grow(
    member_client, make_request, member, admin_user, django_assert_max_num_queries
):
    make_requests(make_request, member, 2, admin=admin_user)
    with django_assert_max_num_queries(3):
        member_client.get(reverse("home"))

    make_requests(make_request, member, 12, admin=admin_user, start=2)
    with django_assert_max_num_queries(3):
        response = member_client.get(reverse("home"))
    assert len(response.context["rows"]) == 14
    assert len(response.context["containers"]) == 7


# Pending requests


def test_pending_list_offers_free_addresses(staff_client, make_request, subnet, admin_user):
    make_request(name="held-box", username="held")
    approve_request(ContainerRequest.objects.get(name="held-box").pk, admin_user)
    request = make_request()

    content = staff_client.get(reverse("containers:pending_requests")).content.decode()

    assert reverse("containers:approve_request", args=[request.pk]) in content
    assert reverse("containers:reject_request", args=[request.pk]) in content
    assert '<option value="198.18.0.161">' in content
    assert '<option value="198.18.0.160">' not in content
    assert "(39 free)" in content


def test_pending_list_skips_host_addresses(staff_client, make_request, subnet):
    Host.objects.create(name="gpu2", endpoint="/var/lib/lxd/unix.socket", address="198.18.0.162", subnet=subnet)
    make_request()

    content = staff_client.get(reverse("containers:pending_requests")).content.decode()

    assert '<option value="198.18.0.161">' in content
    assert '<option value="198.18.0.162">' not in content


def test_pending_list_empty_state(staff_client):
    content = staff_client.get(reverse("containers:pending_requests")).content.decode()

    assert "No request is waiting for a decision." in content


def test_pending_list_forbidden_to_members(member_client):
    response = member_client.get(reverse("containers:pending_requests"))

    assert response.status_code == 403
    assert "You are not allowed to open this page" in response.content.decode()


def test_pending_list_redirects_anonymous(client):
    response = client.get(reverse("containers:pending_requests"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_pending_list_query_count_does_not_grow(
    staff_client, make_request, member, other_member, admin_user, template, django_assert_max_num_queries
):
    make_requests(make_request, member, 2)
    with django_assert_max_num_queries(6 + STAFF_NAVIGATION_QUERIES):
        staff_client.get(reverse("containers:pending_requests"))

    # More requests, from more members, on templates of a second host and subnet.
    second_subnet = Subnet.objects.create(
        name="lab2",
        cidr="198.18.1.0/24",
        gateway="198.18.1.1",
        dns_servers=["198.18.1.1"],
        bridge="portalbr1",
        range_start="198.18.1.10",
        range_end="198.18.1.20",
    )
    second_host = Host.objects.create(name="gpu2", endpoint="/var/lib/lxd/unix.socket", subnet=second_subnet)
    template.pk = None
    template.name = "Debian 12 on gpu2"
    template.host = second_host
    template.save()
    for number in range(10):
        ContainerRequest.objects.create(
            member=other_member,
            template=template,
            name=f"more-{number}",
            username=f"more{number}",
            ssh_keys="",
            reason="Thesis experiments.",
        )
    make_requests(make_request, member, 10, start=2)
    with django_assert_max_num_queries(6 + STAFF_NAVIGATION_QUERIES):
        response = staff_client.get(reverse("containers:pending_requests"))
    assert response.content.decode().count('name="reason"') == 22


# All containers


def test_container_list_shows_every_member(staff_client, make_request, member, other_member, admin_user):
    make_requests(make_request, member, 2, admin=admin_user)
    make_requests(make_request, other_member, 2, admin=admin_user)

    content = staff_client.get(reverse("containers:container_list")).content.decode()

    assert "alice-box-1" in content
    assert "bob-box-1" in content


def test_container_list_filters_by_status(staff_client, make_request, member, admin_user):
    make_requests(make_request, member, 4, admin=admin_user)
    Container.objects.filter(name="alice-box-1").update(status=Container.Status.FAILED)

    content = staff_client.get(reverse("containers:container_list"), {"status": "failed"}).content.decode()

    assert "alice-box-1" in content
    assert "alice-box-3" not in content


def test_container_list_forbidden_to_members(member_client):
    assert member_client.get(reverse("containers:container_list")).status_code == 403


def test_container_list_query_count_does_not_grow(
    staff_client, make_request, member, admin_user, django_assert_max_num_queries
):
    make_requests(make_request, member, 2, admin=admin_user)
    with django_assert_max_num_queries(5 + STAFF_NAVIGATION_QUERIES):
        staff_client.get(reverse("containers:container_list"))

    make_requests(make_request, member, 20, admin=admin_user, start=2)
    with django_assert_max_num_queries(5 + STAFF_NAVIGATION_QUERIES):
        response = staff_client.get(reverse("containers:container_list"))
    assert response.content.decode().count("badge-provisioning") == 11


# Subnets


def test_subnet_list_counts_held_and_free(staff_client, make_request, member, admin_user, subnet):
    make_requests(make_request, member, 4, admin=admin_user)

    response = staff_client.get(reverse("containers:subnet_list"))

    rows = response.context["rows"]
    assert rows[0]["subnet"].held_count == 2
    assert rows[0]["free_count"] == 38


def test_subnet_list_query_count_does_not_grow(
    staff_client, make_request, member, admin_user, subnet, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5 + STAFF_NAVIGATION_QUERIES):
        staff_client.get(reverse("containers:subnet_list"))

    for number in range(6):
        Subnet.objects.create(
            name=f"extra-{number}",
            cidr=f"10.{number}.0.0/24",
            gateway=f"10.{number}.0.1",
            dns_servers=[f"10.{number}.0.1"],
            bridge="br0",
            range_start=f"10.{number}.0.10",
            range_end=f"10.{number}.0.20",
        )
    make_requests(make_request, member, 10, admin=admin_user)
    with django_assert_max_num_queries(5 + STAFF_NAVIGATION_QUERIES):
        staff_client.get(reverse("containers:subnet_list"))


def test_subnet_list_forbidden_to_members(member_client):
    assert member_client.get(reverse("containers:subnet_list")).status_code == 403


def test_subnet_map_shows_every_kind_of_address(staff_client, make_request, admin_user, subnet, host):
    subnet.excluded = "198.18.0.170"
    subnet.save()
    Host.objects.create(name="gpu2", endpoint="/var/lib/lxd/unix.socket", address="198.18.0.2", subnet=subnet)
    container = approve_request(make_request().pk, admin_user)

    response = staff_client.get(reverse("containers:subnet_detail", args=[subnet.pk]))

    rows = {str(row.ip): row for row in response.context["addresses"].rows}
    assert len(rows) == 256
    assert rows["198.18.0.0"].kind == "reserved"
    assert rows["198.18.0.0"].reason == "Network address"
    assert rows["198.18.0.255"].reason == "Broadcast address"
    assert rows["198.18.0.1"].reason == "Gateway"
    assert rows["198.18.0.1"].host == host
    assert rows["198.18.0.2"].reason == "Host's own address"
    assert rows["198.18.0.170"].reason == "Excluded"
    assert rows["198.18.0.160"].kind == "held"
    assert rows["198.18.0.160"].holder.container == container
    assert rows["198.18.0.161"].kind == "free"
    assert rows["198.18.0.100"].kind == "outside_range"
    content = response.content.decode()
    assert "alice-box" in content
    assert ">alice<" in content
    assert response.context["addresses"].held_count == 1
    assert response.context["addresses"].free_count == 38


def test_subnet_map_pages_a_large_network(staff_client, admin_user):
    subnet = Subnet.objects.create(
        name="big",
        cidr="10.20.0.0/16",
        gateway="10.20.0.1",
        dns_servers=["10.20.0.1"],
        bridge="br0",
        range_start="10.20.1.0",
        range_end="10.20.3.255",
    )

    response = staff_client.get(reverse("containers:subnet_detail", args=[subnet.pk]), {"page": 3})

    rows = response.context["addresses"].rows
    assert len(rows) == 256
    assert str(rows[0].ip) == "10.20.2.0"
    assert str(rows[-1].ip) == "10.20.2.255"
    assert response.context["page"].paginator.num_pages == 256


def test_subnet_map_query_count_does_not_grow(
    staff_client, make_request, member, admin_user, subnet, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5 + STAFF_NAVIGATION_QUERIES):
        staff_client.get(reverse("containers:subnet_detail", args=[subnet.pk]))

    make_requests(make_request, member, 16, admin=admin_user)
    with django_assert_max_num_queries(5 + STAFF_NAVIGATION_QUERIES):
        response = staff_client.get(reverse("containers:subnet_detail", args=[subnet.pk]))
    assert response.context["addresses"].held_count == 8


def test_subnet_map_forbidden_to_members(member_client, subnet):
    assert member_client.get(reverse("containers:subnet_detail", args=[subnet.pk])).status_code == 403


def test_dashboard_tells_administrators_what_waits(staff_client, make_request, admin_user):
    make_request(name="waiting-box")
    failed = approve_request(make_request(name="broken-box", username="broken").pk, admin_user)
    failed.transition(Container.Status.FAILED, last_error="start failed")

    content = staff_client.get(reverse("home")).content.decode()

    assert "One request is waiting for a decision." in content
    assert "One container failed to build." in content
    assert f"{reverse('containers:container_list')}?status=failed" in content


def test_dashboard_hides_staff_notices_from_members(member_client, make_request):
    make_request(name="waiting-box")

    content = member_client.get(reverse("home")).content.decode()

    assert "waiting for a decision" not in content
