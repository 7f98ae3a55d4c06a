"""Choosing and checking the static addresses that containers get in a subnet.

A free address is one without an Address row: reserving an address means
inserting that row, and the unique constraint on (subnet, ip) turns a second
reservation of the same address into an IntegrityError, never a duplicate.
"""

import ipaddress

from django.utils.translation import gettext as _

from containers.errors import ServiceError
from containers.models import Address, Subnet


def held_addresses(subnet: Subnet) -> set[ipaddress.IPv4Address]:
    """Return the addresses of `subnet` that containers hold now."""
    return {ipaddress.IPv4Address(ip) for ip in Address.objects.filter(subnet=subnet).values_list("ip", flat=True)}


def host_addresses(subnet: Subnet) -> set[ipaddress.IPv4Address]:
    """Return the addresses that the subnet's hosts use themselves."""
    return {
        ipaddress.IPv4Address(ip) for ip in subnet.hosts.exclude(address__isnull=True).values_list("address", flat=True)
    }


def lowest_free_address(subnet: Subnet, skip: set[ipaddress.IPv4Address] = frozenset()) -> ipaddress.IPv4Address:
    """Return the lowest allocatable address without an Address row that is not in `skip`.

    `skip` lets a caller that lost a race for an address move past it even
    before the winner's row is visible. Raise ServiceError if none is left.
    """
    taken = held_addresses(subnet) | host_addresses(subnet) | set(skip)
    for address in subnet.allocatable():
        if address not in taken:
            return address
    raise ServiceError(
        _("Subnet %(subnet)s has no free address left. Free one, or widen the subnet's range.")
        % {"subnet": subnet.name}
    )


def check_chosen_address(subnet: Subnet, text: str) -> ipaddress.IPv4Address:
    """Parse an address an administrator typed and check that it may be handed out.

    It must be an IPv4 address inside the subnet and its allocatable range,
    not the network, broadcast or gateway address, not excluded, and not held
    by a container. Raise ServiceError saying which rule it breaks.
    """
    try:
        address = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ServiceError(_("%(ip)s is not an IPv4 address.") % {"ip": text}) from None

    network = subnet.network
    if address not in network:
        raise ServiceError(_("%(ip)s is outside subnet %(cidr)s.") % {"ip": address, "cidr": network})

    reason = subnet.reserved_reasons().get(address)
    if reason == "gateway":
        raise ServiceError(_("%(ip)s is the subnet's gateway.") % {"ip": address})
    if reason in ("network", "broadcast"):
        raise ServiceError(_("%(ip)s is the network or broadcast address of the subnet.") % {"ip": address})
    if reason == "excluded":
        raise ServiceError(_("%(ip)s is on the subnet's list of excluded addresses.") % {"ip": address})

    first = ipaddress.IPv4Address(subnet.range_start)
    last = ipaddress.IPv4Address(subnet.range_end)
    if not first <= address <= last:
        raise ServiceError(
            _("%(ip)s is outside the range %(first)s to %(last)s that containers may get.")
            % {"ip": address, "first": first, "last": last}
        )

    if address in host_addresses(subnet):
        raise ServiceError(_("%(ip)s is the address of a host in this subnet.") % {"ip": address})
    if Address.objects.filter(subnet=subnet, ip=str(address)).exists():
        raise ServiceError(_("%(ip)s is already held by another container.") % {"ip": address})
    return address
