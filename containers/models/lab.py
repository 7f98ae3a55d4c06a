"""The lab's fixed parts: LXD hosts, templates, subnets and the addresses held in them."""

import ipaddress

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from containers.validators import validate_instance_name


class Subnet(models.Model):
    """An IPv4 network on which containers get static addresses.

    Addresses handed out lie between `range_start` and `range_end`; the
    gateway, the network and broadcast addresses and everything listed in
    `excluded` are never handed out.
    """

    name = models.SlugField(_("name"), max_length=50, unique=True)
    cidr = models.CharField(_("network (CIDR)"), max_length=18, help_text=_("For example 192.168.100.0/24."))
    gateway = models.GenericIPAddressField(_("gateway"), protocol="IPv4")
    dns_servers = ArrayField(
        models.GenericIPAddressField(protocol="IPv4"),
        verbose_name=_("DNS servers"),
        size=4,
    )
    bridge = models.CharField(
        _("bridge"),
        max_length=15,
        help_text=_("Host bridge or parent interface the containers' eth0 is attached to."),
    )
    range_start = models.GenericIPAddressField(_("first allocatable address"), protocol="IPv4")
    range_end = models.GenericIPAddressField(_("last allocatable address"), protocol="IPv4")
    excluded = models.TextField(
        _("excluded addresses"),
        blank=True,
        help_text=_("One address or range (a.b.c.d-a.b.c.e) per line, never handed out."),
    )

    class Meta:
        verbose_name = _("subnet")
        verbose_name_plural = _("subnets")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.cidr})"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr, strict=True)

    @property
    def prefix_length(self) -> int:
        return self.network.prefixlen

    def excluded_addresses(self) -> set[ipaddress.IPv4Address]:
        """Return the addresses listed in `excluded`, ranges expanded."""
        return parse_excluded(self.excluded)

    def reserved_reasons(self) -> dict[ipaddress.IPv4Address, str]:
        """Map each address of the network that is never handed out to why."""
        network = self.network
        reasons = {
            network.network_address: "network",
            network.broadcast_address: "broadcast",
            ipaddress.IPv4Address(self.gateway): "gateway",
        }
        for address in self.excluded_addresses():
            reasons.setdefault(address, "excluded")
        return reasons

    def allocatable(self) -> list[ipaddress.IPv4Address]:
        """Return the addresses of the range that may be handed out, lowest first."""
        start = int(ipaddress.IPv4Address(self.range_start))
        end = int(ipaddress.IPv4Address(self.range_end))
        reserved = self.reserved_reasons()
        return [
            ipaddress.IPv4Address(value)
            for value in range(start, end + 1)
            if ipaddress.IPv4Address(value) not in reserved
        ]

    def clean(self) -> None:
        errors = {}
        try:
            network = ipaddress.IPv4Network(self.cidr, strict=True)
        except ValueError:
            raise ValidationError({"cidr": _("Enter a network such as 192.168.100.0/24, with no host bits set.")})
        if network.prefixlen < 16 or network.prefixlen > 30:
            errors["cidr"] = _("The prefix length must be between /16 and /30.")

        for field in ("gateway", "range_start", "range_end"):
            value = getattr(self, field)
            if value and ipaddress.IPv4Address(value) not in network:
                errors[field] = _("This address is outside %(cidr)s.") % {"cidr": network}
        if (
            "range_start" not in errors
            and "range_end" not in errors
            and ipaddress.IPv4Address(self.range_start) > ipaddress.IPv4Address(self.range_end)
        ):
            errors["range_end"] = _("The last address must not come before the first.")

        try:
            outside = [a for a in parse_excluded(self.excluded) if a not in network]
        except ValueError as error:
            errors["excluded"] = str(error)
        else:
            if outside:
                errors["excluded"] = _("%(address)s is outside %(cidr)s.") % {
                    "address": outside[0],
                    "cidr": network,
                }
        if errors:
            raise ValidationError(errors)


def parse_excluded(text: str) -> set[ipaddress.IPv4Address]:
    """Parse one address or `first-last` range per line; raise ValueError on a bad line."""
    addresses: set[ipaddress.IPv4Address] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if "-" in line:
                first, last = (ipaddress.IPv4Address(part.strip()) for part in line.split("-", 1))
                if last < first or int(last) - int(first) > 65536:
                    raise ValueError
                addresses.update(ipaddress.IPv4Address(v) for v in range(int(first), int(last) + 1))
            else:
                addresses.add(ipaddress.IPv4Address(line))
        except ValueError:
            raise ValueError(
                _("Line %(number)s (%(line)s) is not an IPv4 address or range.") % {"number": number, "line": line}
            ) from None
    return addresses


class Host(models.Model):
    """A GPU server reached through its LXD API."""

    name = models.SlugField(
        _("name"),
        max_length=50,
        unique=True,
        help_text=_("Short name; also names the Celery queue that collects this host's GPU data."),
    )
    endpoint = models.CharField(
        _("LXD endpoint"),
        max_length=255,
        help_text=_("Path of the local unix socket, or an https:// URL for a remote LXD."),
    )
    project = models.CharField(_("LXD project"), max_length=63, default="default")
    client_cert = models.CharField(
        _("client certificate file"), max_length=255, blank=True, help_text=_("Only for https endpoints.")
    )
    client_key = models.CharField(
        _("client key file"), max_length=255, blank=True, help_text=_("Only for https endpoints.")
    )
    server_cert = models.CharField(
        _("server certificate or CA file"),
        max_length=255,
        blank=True,
        help_text=_("Verifies an https endpoint; empty uses the system's CA store."),
    )
    address = models.GenericIPAddressField(
        _("host address"), protocol="IPv4", null=True, blank=True, help_text=_("The host's own address in the subnet.")
    )
    subnet = models.ForeignKey(
        Subnet,
        verbose_name=_("subnet"),
        on_delete=models.PROTECT,
        related_name="hosts",
        null=True,
        blank=True,
    )
    collects_gpu = models.BooleanField(_("collects GPU data"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("host")
        verbose_name_plural = _("hosts")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def gpu_queue(self) -> str:
        return f"gpu.{self.name}"

    def clean(self) -> None:
        if not (self.endpoint.startswith("/") or self.endpoint.startswith("https://")):
            raise ValidationError({"endpoint": _("Enter a socket path starting with / or an https:// URL.")})
        if self.endpoint.startswith("https://") and not (self.client_cert and self.client_key):
            raise ValidationError({"client_cert": _("An https endpoint needs a client certificate and key.")})


class Template(models.Model):
    """A snapshot that new containers are copied from, as `lxc copy SOURCE/SNAPSHOT NAME`."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    host = models.ForeignKey(Host, verbose_name=_("host"), on_delete=models.PROTECT, related_name="templates")
    source = models.CharField(
        _("source container"), max_length=63, validators=[validate_instance_name], default="template"
    )
    snapshot = models.CharField(_("snapshot"), max_length=63, validators=[validate_instance_name], default="gpu")
    default_user = models.CharField(
        _("default user"),
        max_length=32,
        default="tmp",
        help_text=_("The template's login user, renamed to the member's username in each new container."),
    )
    reserved_usernames = models.TextField(
        _("reserved usernames"),
        blank=True,
        help_text=_("System accounts of the template (UID below 1000), one per line; members cannot take them."),
    )
    cpu_limit = models.PositiveSmallIntegerField(_("CPU limit"), null=True, blank=True)
    memory_limit = models.CharField(_("memory limit"), max_length=20, blank=True, help_text=_("For example 32GiB."))
    is_active = models.BooleanField(_("offered to members"), default=True)

    class Meta:
        verbose_name = _("template")
        verbose_name_plural = _("templates")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "source", "snapshot"], name="template_unique_snapshot"),
        ]

    def __str__(self) -> str:
        return self.name

    def reserved_username_set(self) -> set[str]:
        return {line.strip() for line in self.reserved_usernames.splitlines() if line.strip()}


class Address(models.Model):
    """An address of a subnet held by a container.

    Only held addresses have a row: a free address is one without a row. The
    unique constraint on (subnet, ip) is what makes a double allocation
    impossible, even when two approvals run at the same moment.
    """

    subnet = models.ForeignKey(Subnet, verbose_name=_("subnet"), on_delete=models.PROTECT, related_name="addresses")
    ip = models.GenericIPAddressField(_("IP address"), protocol="IPv4")
    container = models.OneToOneField(
        "containers.Container",
        verbose_name=_("container"),
        on_delete=models.CASCADE,
        related_name="address",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["subnet", "ip"]
        constraints = [
            models.UniqueConstraint(fields=["subnet", "ip"], name="address_unique_ip_per_subnet"),
        ]

    def __str__(self) -> str:
        return self.ip
