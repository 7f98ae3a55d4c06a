"""Print the lab's hosts, templates and subnets, and whether LXD has what they name."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from containers.models import Host, Subnet, Template
from hostops.lxd import LXDError, LXDHost


class Command(BaseCommand):
    help = "List hosts (and whether their LXD is reachable), templates (and whether their snapshot exists) and subnets."

    def add_arguments(self, parser):
        parser.add_argument("--no-check", action="store_true", help="Do not contact LXD.")

    def handle(self, *args, **options):
        check = not options["no_check"]
        connections: dict[int, LXDHost] = {}

        self.stdout.write(self.style.MIGRATE_HEADING(_("Hosts")))
        for host in Host.objects.select_related("subnet"):
            connections[host.pk] = LXDHost.for_host(host)
            state = ""
            if check:
                try:
                    count = len(connections[host.pk].list_instances())
                    state = _("reachable, %(count)s instances") % {"count": count}
                except LXDError as error:
                    state = _("unreachable: %(error)s") % {"error": error}
            self.stdout.write(
                f"  {host.name}  {host.endpoint}  "
                + _("project %(project)s, subnet %(subnet)s, GPU data %(gpu)s, %(active)s")
                % {
                    "project": host.project,
                    "subnet": host.subnet.name if host.subnet else "-",
                    "gpu": _("on") if host.collects_gpu else _("off"),
                    "active": _("active") if host.is_active else _("inactive"),
                }
                + (f"  [{state}]" if state else "")
            )

        self.stdout.write(self.style.MIGRATE_HEADING(_("Templates")))
        for template in Template.objects.select_related("host"):
            state = ""
            if check:
                try:
                    exists = connections[template.host_id].snapshot_exists(template.source, template.snapshot)
                    state = _("snapshot present") if exists else _("snapshot missing")
                except LXDError as error:
                    state = _("unreachable: %(error)s") % {"error": error}
            self.stdout.write(
                f"  {template.name}  {template.host.name}:{template.source}/{template.snapshot}  "
                + _("default user %(user)s, %(count)s reserved usernames, %(offered)s")
                % {
                    "user": template.default_user,
                    "count": len(template.reserved_username_set()),
                    "offered": _("offered") if template.is_active else _("not offered"),
                }
                + (f"  [{state}]" if state else "")
            )

        self.stdout.write(self.style.MIGRATE_HEADING(_("Subnets")))
        for subnet in Subnet.objects.all():
            allocatable = subnet.allocatable()
            held = subnet.addresses.count()
            self.stdout.write(
                f"  {subnet.name}  {subnet.cidr}  "
                + _(
                    "gateway %(gateway)s, DNS %(dns)s, bridge %(bridge)s, range %(start)s-%(end)s, "
                    "%(held)s of %(total)s addresses held"
                )
                % {
                    "gateway": subnet.gateway,
                    "dns": ", ".join(subnet.dns_servers),
                    "bridge": subnet.bridge,
                    "start": subnet.range_start,
                    "end": subnet.range_end,
                    "held": held,
                    "total": len(allocatable),
                }
            )
