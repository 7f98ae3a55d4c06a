"""Fill an empty portal with a demo lab: two users, the local LXD host, a subnet and a template.

Running it again resets these objects to the demo values and the demo
passwords to the values in the environment. Meant for local demos, never for
a lab's server.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

LOCAL_SOCKETS = ("/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket")

DEMO_HOST = "local"
DEMO_SUBNET = "demo"
DEMO_TEMPLATE = "Debian 12 (GPU)"
# The portal's own test network on bridge portalbr0, created by scripts/setup-lxd.sh.
DEMO_SUBNET_OPTIONS = [
    "--cidr=198.18.0.0/24",
    "--gateway=198.18.0.1",
    "--dns=198.18.0.1",
    "--bridge=portalbr0",
    "--range-start=198.18.0.100",
    "--range-end=198.18.0.199",
    "--exclude=198.18.0.150",
    "--exclude=198.18.0.190-198.18.0.199",
]
# (username, environment variable with the password, is administrator)
DEMO_USERS = [
    ("admin", "DEMO_ADMIN_PASSWORD", True),
    ("student", "DEMO_STUDENT_PASSWORD", False),
]


class Command(BaseCommand):
    help = (
        "Create the demo lab: users admin and student (passwords from $DEMO_ADMIN_PASSWORD and "
        "$DEMO_STUDENT_PASSWORD, random if unset), host 'local' on this machine's LXD socket, subnet "
        "198.18.0.0/24 on bridge portalbr0 and the template template/gpu. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--socket", default="", help="LXD socket path; default: the first that exists.")
        parser.add_argument("--project", default="default", help="LXD project of the demo host.")

    def handle(self, *args, **options):
        socket = options["socket"] or next((path for path in LOCAL_SOCKETS if os.path.exists(path)), "")
        if not socket:
            raise CommandError(_("No LXD socket found. Run scripts/setup-lxd.sh first, or pass --socket."))

        with transaction.atomic():
            logins = [self.ensure_user(*user) for user in DEMO_USERS]
            call_command("add_subnet", DEMO_SUBNET, *DEMO_SUBNET_OPTIONS, "--update", stdout=self.stdout)
            host_options = [
                f"--endpoint={socket}",
                f"--project={options['project']}",
                "--address=198.18.0.1",
                f"--subnet={DEMO_SUBNET}",
                "--update",
            ]
            if not os.path.exists(settings.NVIDIA_SMI_PATH):
                # Without nvidia-smi every collection would fail.
                host_options.append("--no-gpu")
            call_command("add_host", DEMO_HOST, *host_options, stdout=self.stdout, stderr=self.stderr)
            call_command(
                "add_template",
                DEMO_TEMPLATE,
                f"--host={DEMO_HOST}",
                "--source=template",
                "--snapshot=gpu",
                "--default-user=tmp",
                "--description=" + _("Debian 12 with SSH and sudo, built by scripts/setup-lxd.sh."),
                "--update",
                stdout=self.stdout,
            )

        self.stdout.write(self.style.SUCCESS(_("Demo lab ready. Logins:")))
        for username, password, generated in logins:
            note = _(" (random, not saved: set it in .env to keep it)") if generated else ""
            self.stdout.write(f"  {username} / {password}{note}")

    def ensure_user(self, username: str, variable: str, is_admin: bool) -> tuple[str, str, bool]:
        """Create or update a demo user; return (username, password, whether the password was generated)."""
        password = os.environ.get(variable, "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user, _created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.test"}
        )
        user.is_staff = is_admin
        user.is_superuser = is_admin
        user.is_active = True
        user.set_password(password)
        user.save()
        return username, password, generated
