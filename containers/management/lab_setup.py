"""Helpers shared by the management commands that register the lab's hosts, templates and subnets."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import CommandError
from django.db import models
from django.utils.translation import gettext as _

from hostops.lxd import LXDError, LXDHost

# Debian's `nobody` has UID 65534, above the range of ordinary users.
NOBODY_UID = 65534


def validation_messages(error: ValidationError) -> list[str]:
    """Flatten a ValidationError into "field: message" lines."""
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    lines = []
    for field, messages in error.message_dict.items():
        for message in messages:
            lines.append(message if field == NON_FIELD_ERRORS else f"{field}: {message}")
    return lines


def save_validated(instance: models.Model) -> None:
    """Run the model's validation (fields, clean() and unique checks) and save it, or raise CommandError."""
    try:
        instance.full_clean()
    except ValidationError as error:
        raise CommandError("\n".join(validation_messages(error))) from None
    instance.save()


def system_usernames_from_passwd(passwd: str) -> list[str]:
    """Return the accounts of an /etc/passwd text with a UID below 1000, plus `nobody`."""
    names = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or not fields[2].isdigit():
            continue
        uid = int(fields[2])
        if uid < 1000 or uid == NOBODY_UID:
            names.append(fields[0])
    return sorted(set(names))


def read_template_system_usernames(lxd: LXDHost, source: str) -> list[str]:
    """Read the system accounts of the template's source container (stopped or running)."""
    try:
        passwd = lxd.read_file(source, "/etc/passwd")
    except LXDError as error:
        message = _("Could not read /etc/passwd of %(source)s: %(error)s") % {"source": source, "error": error}
        raise CommandError(message)
    return system_usernames_from_passwd(passwd.decode("utf-8", errors="replace"))


def check_snapshot(lxd: LXDHost, source: str, snapshot: str) -> None:
    """Raise CommandError unless SOURCE/SNAPSHOT exists on the host."""
    try:
        exists = lxd.snapshot_exists(source, snapshot)
    except LXDError as error:
        raise CommandError(
            _("Could not check snapshot %(source)s/%(snapshot)s: %(error)s")
            % {"source": source, "snapshot": snapshot, "error": error}
        )
    if not exists:
        raise CommandError(
            _("Snapshot %(source)s/%(snapshot)s not found in LXD project %(project)s. Create it with `lxc snapshot`.")
            % {"source": source, "snapshot": snapshot, "project": lxd.project}
        )
