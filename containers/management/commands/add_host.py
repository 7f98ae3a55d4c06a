"""Register a GPU server's LXD endpoint as a host."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from containers.management.lab_setup import save_validated
from containers.models import Host, Subnet
from hostops.lxd import LXDError, LXDHost


class Command(BaseCommand):
    help = "Register an LXD host: a local socket path or an https:// URL with a client certificate."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Short name; the host's GPU data is collected on Celery queue gpu.NAME.")
        parser.add_argument("--endpoint", required=True, help="Unix socket path or https:// URL of the LXD API.")
        parser.add_argument("--project", default="default", help="LXD project of the portal's containers.")
        parser.add_argument("--client-cert", default="", help="Client certificate file (https endpoints).")
        parser.add_argument("--client-key", default="", help="Client key file (https endpoints).")
        parser.add_argument("--server-cert", default="", help="Server certificate or CA file (https endpoints).")
        parser.add_argument("--address", default=None, help="The host's own IPv4 address in its subnet.")
        parser.add_argument("--subnet", default=None, help="Name of the subnet the host's containers use.")
        parser.add_argument("--no-gpu", action="store_true", help="Do not collect GPU data from this host.")
        parser.add_argument("--update", action="store_true", help="Change the host if one with this name exists.")
        parser.add_argument("--no-check", action="store_true", help="Do not test the connection to LXD.")

    def handle(self, *args, **options):
        name = options["name"]
        host = Host.objects.filter(name=name).first()
        if host is not None and not options["update"]:
            raise CommandError(_("Host %(name)s already exists; use --update to change it.") % {"name": name})
        host = host or Host(name=name)

        subnet = None
        if options["subnet"]:
            subnet = Subnet.objects.filter(name=options["subnet"]).first()
            if subnet is None:
                raise CommandError(_("Subnet %(name)s not found.") % {"name": options["subnet"]})

        host.endpoint = options["endpoint"]
        host.project = options["project"]
        host.client_cert = options["client_cert"]
        host.client_key = options["client_key"]
        host.server_cert = options["server_cert"]
        host.address = options["address"]
        host.subnet = subnet
        host.collects_gpu = not options["no_gpu"]
        save_validated(host)
        self.stdout.write(
            _("Saved host %(name)s (%(endpoint)s, project %(project)s).")
            % {
                "name": host.name,
                "endpoint": host.endpoint,
                "project": host.project,
            }
        )

        if not options["no_check"]:
            try:
                count = len(LXDHost.for_host(host).list_instances())
            except LXDError as error:
                self.stderr.write(_("Warning: LXD is not reachable: %(error)s") % {"error": error})
            else:
                message = _("LXD is reachable: %(count)s instances in project %(project)s.")
                self.stdout.write(message % {"count": count, "project": host.project})
