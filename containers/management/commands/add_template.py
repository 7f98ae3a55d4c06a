"""Register a template snapshot that members' containers are copied from."""

import re

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from containers.management.lab_setup import check_snapshot, read_template_system_usernames, save_validated
from containers.models import Host, Template
from hostops.lxd import LXDHost

# Sizes LXD accepts for limits.memory: a number with a decimal or binary unit, or a percentage.
MEMORY_LIMIT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$")


class Command(BaseCommand):
    help = (
        "Register a template: the snapshot SOURCE/SNAPSHOT on a host that new containers are copied from. "
        "The snapshot must exist, and the template's system accounts (UID below 1000) are read from its "
        "/etc/passwd so that members cannot take those usernames."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Name shown to members.")
        parser.add_argument("--host", required=True, help="Name of the host that has the snapshot.")
        parser.add_argument("--source", default="template", help="Container the snapshot belongs to.")
        parser.add_argument("--snapshot", default="gpu", help="Snapshot name.")
        parser.add_argument("--default-user", default="tmp", help="Login user of the template, renamed per member.")
        parser.add_argument("--description", default="", help="Text shown to members when they choose a template.")
        parser.add_argument("--cpu-limit", type=int, default=None, help="limits.cpu of new containers (CPUs).")
        parser.add_argument("--memory-limit", default="", help="limits.memory of new containers, e.g. 32GiB.")
        parser.add_argument(
            "--reserve", action="append", default=[], help="Extra username members cannot take; repeat."
        )
        parser.add_argument("--inactive", action="store_true", help="Register it without offering it to members.")
        parser.add_argument("--update", action="store_true", help="Change the template if one with this name exists.")
        parser.add_argument(
            "--no-check", action="store_true", help="Do not contact LXD: skip the snapshot check and /etc/passwd."
        )

    def handle(self, *args, **options):
        name = options["name"]
        template = Template.objects.filter(name=name).first()
        if template is not None and not options["update"]:
            raise CommandError(_("Template %(name)s already exists; use --update to change it.") % {"name": name})
        template = template or Template(name=name)

        if options["memory_limit"] and not MEMORY_LIMIT_RE.match(options["memory_limit"]):
            raise CommandError(
                _("Invalid memory limit %(value)s: use a size such as 512MiB or 32GiB, or a percentage.")
                % {"value": options["memory_limit"]}
            )
        if options["cpu_limit"] is not None and options["cpu_limit"] < 1:
            raise CommandError(_("The CPU limit must be at least 1."))

        host = Host.objects.filter(name=options["host"]).first()
        if host is None:
            raise CommandError(_("Host %(name)s not found. Add it first with add_host.") % {"name": options["host"]})

        reserved = set(options["reserve"])
        if not options["no_check"]:
            lxd = LXDHost.for_host(host)
            check_snapshot(lxd, options["source"], options["snapshot"])
            reserved.update(read_template_system_usernames(lxd, options["source"]))
        reserved.discard(options["default_user"])

        template.host = host
        template.source = options["source"]
        template.snapshot = options["snapshot"]
        template.default_user = options["default_user"]
        template.description = options["description"]
        template.cpu_limit = options["cpu_limit"]
        template.memory_limit = options["memory_limit"]
        template.reserved_usernames = "\n".join(sorted(reserved))
        template.is_active = not options["inactive"]
        save_validated(template)
        self.stdout.write(
            _("Saved template %(name)s (%(host)s: %(source)s/%(snapshot)s, %(count)s reserved usernames).")
            % {
                "name": template.name,
                "host": host.name,
                "source": template.source,
                "snapshot": template.snapshot,
                "count": len(reserved),
            }
        )
