"""Display data for the pages about requests, jobs and addresses.

Nothing here changes the database, and the functions that feed list pages
run a fixed number of queries however many rows they cover.
"""

import ipaddress
from dataclasses import dataclass

from django.db.models import Prefetch, prefetch_related_objects
from django.utils.translation import gettext_lazy as _

from containers.models import Address, Container, ContainerRequest, Host, JobStep, ProvisioningJob, Subnet

# Descriptions of the job steps, in words a member understands.
STEP_LABELS = {
    "copy": _("Copy the template"),
    "configure": _("Set the hostname and resource limits"),
    "start": _("Start the container"),
    "push_script": _("Upload the setup script"),
    "run_script": _("Create your user, password, SSH keys and network settings"),
    "restart": _("Restart the container"),
    "wait_running": _("Wait for the container to come up"),
    "verify": _("Check the address and the user from outside"),
    "delete": _("Delete the container"),
    "release": _("Release the IP address"),
}

FINAL_JOB_STATUSES = {ProvisioningJob.Status.SUCCEEDED, ProvisioningJob.Status.FAILED, ProvisioningJob.Status.ABANDONED}


@dataclass(frozen=True)
class Badge:
    """A status as the pages show it; portal.css gives each status one colour everywhere."""

    status: str
    label: str


def badge_for(obj) -> Badge:
    """Return the badge of any model with a `status` field and its choices."""
    return Badge(obj.status, obj.get_status_display())


def step_label(name: str) -> str:
    return STEP_LABELS.get(name, name)


def labelled_steps(steps) -> list[JobStep]:
    """Return the steps as a list, each with a `label` attribute for the page."""
    steps = list(steps)
    for step in steps:
        step.label = step_label(step.name)
    return steps


def request_badge(container_request: ContainerRequest) -> Badge:
    """Return the member-facing state: the request's until approval, then its container's."""
    container = request_container(container_request)
    if container_request.status == ContainerRequest.Status.APPROVED and container is not None:
        return badge_for(container)
    return badge_for(container_request)


def request_container(container_request: ContainerRequest) -> Container | None:
    try:
        return container_request.container
    except Container.DoesNotExist:
        return None


def held_ip(container: Container | None) -> str | None:
    if container is None:
        return None
    try:
        return container.address.ip
    except Address.DoesNotExist:
        return None


def latest_job_with_steps(container: Container, kind: str = ProvisioningJob.Kind.PROVISION) -> ProvisioningJob | None:
    """Return the container's newest job of `kind`, its steps prefetched in order."""
    return (
        container.jobs.filter(kind=kind)
        .prefetch_related(Prefetch("steps", queryset=JobStep.objects.order_by("position")))
        .order_by("-created_at", "-pk")
        .first()
    )


def host_addresses(subnets) -> dict[int, dict[ipaddress.IPv4Address, Host]]:
    """Map each subnet's id to the addresses its hosts use themselves.

    Costs one query, or none when the subnets' hosts are already prefetched.
    """
    subnets = list(subnets)
    prefetch_related_objects(subnets, "hosts")
    return {
        subnet.pk: {ipaddress.IPv4Address(host.address): host for host in subnet.hosts.all() if host.address}
        for subnet in subnets
    }


def list_free(subnet: Subnet, held: set[ipaddress.IPv4Address], hosts: dict[ipaddress.IPv4Address, Host]) -> list[str]:
    """Return the free addresses of `subnet`, lowest first.

    A free address lies in the allocatable range, is not reserved (network,
    broadcast, gateway, excluded), is not a host's own address, and is not
    held by a container.
    """
    return [str(address) for address in subnet.allocatable() if address not in held and address not in hosts]


def free_addresses(subnets) -> dict[int, list[str]]:
    """Map each subnet's id to its free addresses, lowest first, in at most two queries."""
    subnets = list(subnets)
    held: dict[int, set[ipaddress.IPv4Address]] = {subnet.pk: set() for subnet in subnets}
    for subnet_id, ip in Address.objects.filter(subnet__in=subnets).values_list("subnet_id", "ip"):
        held[subnet_id].add(ipaddress.IPv4Address(ip))
    hosts = host_addresses(subnets)
    return {subnet.pk: list_free(subnet, held[subnet.pk], hosts[subnet.pk]) for subnet in subnets}


@dataclass(frozen=True)
class AddressRow:
    """One address of a subnet's address map."""

    ip: ipaddress.IPv4Address
    kind: str  # free, held, reserved or outside_range
    reason: str = ""
    holder: Address | None = None
    host: Host | None = None


RESERVED_LABELS = {
    "network": _("Network address"),
    "broadcast": _("Broadcast address"),
    "gateway": _("Gateway"),
    "excluded": _("Excluded"),
}


@dataclass
class AddressMap:
    """One page of a subnet's address map, with the subnet's totals."""

    rows: list[AddressRow]
    held_count: int
    free_count: int


def address_map(subnet: Subnet, first: int, last: int) -> AddressMap:
    """Describe the addresses of `subnet` from index `first` to `last` (inclusive).

    Indexes count from the network address, so a page of the map covers a
    slice of the network without building rows for the rest. Costs two
    queries: the held addresses with their containers and members, and the
    subnet's hosts unless they are prefetched.
    """
    holders = {
        ipaddress.IPv4Address(address.ip): address
        for address in Address.objects.filter(subnet=subnet).select_related("container__owner")
    }
    hosts = host_addresses([subnet])[subnet.pk]
    reserved = subnet.reserved_reasons()
    range_start = ipaddress.IPv4Address(subnet.range_start)
    range_end = ipaddress.IPv4Address(subnet.range_end)
    start = int(subnet.network.network_address)

    rows = []
    for value in range(start + first, start + last + 1):
        ip = ipaddress.IPv4Address(value)
        if ip in holders:
            rows.append(AddressRow(ip, "held", holder=holders[ip], host=hosts.get(ip)))
        elif ip in reserved:
            rows.append(AddressRow(ip, "reserved", reason=RESERVED_LABELS[reserved[ip]], host=hosts.get(ip)))
        elif ip in hosts:
            rows.append(AddressRow(ip, "reserved", reason=_("Host's own address"), host=hosts[ip]))
        elif not range_start <= ip <= range_end:
            rows.append(AddressRow(ip, "outside_range"))
        else:
            rows.append(AddressRow(ip, "free"))

    free = list_free(subnet, set(holders), hosts)
    return AddressMap(rows=rows, held_count=len(holders), free_count=len(free))
