"""Register a subnet that containers get static addresses from."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from containers.management.lab_setup import save_validated
from containers.models import Subnet


class Command(BaseCommand):
    help = "Register an IPv4 subnet: network, gateway, DNS servers, bridge and the range handed out."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Short name (letters, digits, hyphens).")
        parser.add_argument("--cidr", required=True, help="Network, for example 192.168.100.0/24.")
        parser.add_argument("--gateway", required=True, help="Default gateway address.")
        parser.add_argument(
            "--dns", required=True, action="append", help="DNS server address; repeat or separate with commas."
        )
        parser.add_argument("--bridge", required=True, help="Host bridge the containers' eth0 is attached to.")
        parser.add_argument("--range-start", required=True, help="First address handed out.")
        parser.add_argument("--range-end", required=True, help="Last address handed out.")
        parser.add_argument(
            "--exclude", action="append", default=[], help="Address or range a.b.c.d-a.b.c.e never handed out; repeat."
        )
        parser.add_argument("--update", action="store_true", help="Change the subnet if one with this name exists.")

    def handle(self, *args, **options):
        name = options["name"]
        subnet = Subnet.objects.filter(name=name).first()
        if subnet is not None and not options["update"]:
            raise CommandError(_("Subnet %(name)s already exists; use --update to change it.") % {"name": name})
        subnet = subnet or Subnet(name=name)

        subnet.cidr = options["cidr"]
        subnet.gateway = options["gateway"]
        subnet.dns_servers = [part.strip() for value in options["dns"] for part in value.split(",") if part.strip()]
        subnet.bridge = options["bridge"]
        subnet.range_start = options["range_start"]
        subnet.range_end = options["range_end"]
        subnet.excluded = "\n".join(options["exclude"])
        save_validated(subnet)
        self.stdout.write(
            _("Saved subnet %(name)s: %(count)s addresses can be handed out.")
            % {"name": subnet.name, "count": len(subnet.allocatable())}
        )
