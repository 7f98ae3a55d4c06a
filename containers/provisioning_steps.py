"""The steps of provisioning and removing a container, one function per step.

Each step may run twice: a worker can die after a step's work is done but
before the step is marked done, and the next worker runs it again. So every
step first looks at what is already there (the instance exists, it is
running, the user is renamed) and only does what is missing.

A step raises StepFailed with a message for the member and technical detail
for administrators. The runner in containers.provisioning reports an
LXDError that a step lets through in the same way.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from containers.passwords import is_crypt_hash
from containers.validators import (
    USERNAME_RE,
    parse_ssh_keys,
    validate_instance_name,
    validate_no_control_characters,
    validate_username,
)
from hostops.lxd import InstanceExists, InstanceNotFound, LXDError, LXDHost, LXDUnavailable, SnapshotNotFound

if TYPE_CHECKING:
    from containers.models import Address, Container, ContainerRequest, ProvisioningJob, Subnet, Template

INIT_SCRIPT = Path(settings.BASE_DIR) / "hostops" / "scripts" / "init-container.sh"
# Directory of the script and its inputs inside the container. It is on the
# root disk rather than on /run, because right after start systemd may still
# be about to mount a fresh tmpfs over /run and hide what was pushed there.
# The script deletes its inputs when it exits.
INIT_DIR = "/root/.portal-init"
INIT_SCRIPT_TIMEOUT = 120
RESTART_TIMEOUT = 60
# Tries and seconds between them when LXD rejects a restart, see restart().
RESTART_ATTEMPTS = 3
RESTART_RETRY_DELAY = 2

# Config keys set when the instance is copied. They tell an instance that
# this portal created for this container from one that only has the same name.
MARKER_CONTAINER = "user.portal.container"
MARKER_JOB = "user.portal.job"

# Most characters of a command's output kept in the job log.
MAX_OUTPUT_CHARS = 4000
# Seconds between two checks while waiting for the address or for SSH.
POLL_INTERVAL = 0.2
# Seconds eth0 may take to show the address after boot has finished.
ADDRESS_TIMEOUT = 20


class StepFailed(Exception):
    """A step failed for a reason that can be explained.

    `message` is a lazy translation for the member, formatted with `params`
    in their language when the failure is recorded. `says_next_step` is True
    when the message already names the member's next step. Otherwise the
    runner adds a sentence saying that an administrator can retry. `detail`
    is technical text for the administrators' job log, free of secrets.
    """

    def __init__(self, message, params: dict | None = None, detail: str = "", says_next_step: bool = False) -> None:
        super().__init__(detail or str(message))
        self.message = message
        self.params = params or {}
        self.detail = detail
        self.says_next_step = says_next_step


@dataclass
class StepContext:
    """Everything a step needs, loaded once per run of a job."""

    job: ProvisioningJob
    container: Container
    request: ContainerRequest
    template: Template
    subnet: Subnet
    address: Address | None
    lxd: LXDHost
    # Lines for the job log, which the runner stores after each step.
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.container.name

    def note(self, message: str) -> None:
        self.notes.append(message)


def trim_output(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the end of a long output, where the error usually is."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return "[...]\n" + text[-limit:]


def is_ours(ctx: StepContext) -> bool:
    """Return whether the instance named like the container was created by this portal for it."""
    return ctx.lxd.instance_config(ctx.name).get(MARKER_CONTAINER) == str(ctx.container.pk)


def name_taken_failure(ctx: StepContext) -> StepFailed:
    return StepFailed(
        _(
            "Host %(host)s already has a container named %(name)s that the portal did not create. "
            "An administrator needs to remove this container record and you can ask again with another name."
        ),
        {"host": ctx.container.host.name, "name": ctx.name},
        detail=f"Instance {ctx.name} exists in project {ctx.lxd.project} without {MARKER_CONTAINER}="
        f"{ctx.container.pk}. It was left untouched.",
        says_next_step=True,
    )


# --- Provisioning ------------------------------------------------------------


def copy(ctx: StepContext) -> None:
    """Copy the template snapshot to a new instance, marked as this container's."""
    template = ctx.template
    marker = {MARKER_CONTAINER: str(ctx.container.pk), MARKER_JOB: str(ctx.job.pk)}

    # Approval checked only the portal's own records. The host may have an
    # instance of that name that an administrator made by hand.
    if ctx.lxd.instance_exists(ctx.name):
        if not is_ours(ctx):
            raise name_taken_failure(ctx)
        ctx.note(f"Instance {ctx.name} already exists from an earlier run of this job. Keeping it.")
        return

    try:
        ctx.lxd.copy_from_snapshot(template.source, template.snapshot, ctx.name, config=marker)
    except SnapshotNotFound as error:
        raise StepFailed(
            _(
                "The template %(template)s is missing on host %(host)s. "
                "An administrator needs to restore it before the job can be retried."
            ),
            {"template": template.name, "host": ctx.container.host.name},
            detail=f"{error} (template {template.pk}: {template.source}/{template.snapshot})",
            says_next_step=True,
        ) from error
    except InstanceExists:
        # Another process created the instance between the check above and
        # the copy. It is ours only if it carries our marker.
        if not is_ours(ctx):
            raise name_taken_failure(ctx) from None
    ctx.note(f"Copied {template.source}/{template.snapshot} to {ctx.name}.")


def configure(ctx: StepContext) -> None:
    """Set the template's resource limits and the portal's user.* keys on the instance."""
    config = {
        "user.portal.owner": ctx.container.owner.get_username(),
        "user.portal.request": str(ctx.request.pk),
    }
    if ctx.template.cpu_limit:
        config["limits.cpu"] = str(ctx.template.cpu_limit)
    if ctx.template.memory_limit:
        config["limits.memory"] = ctx.template.memory_limit
    ctx.lxd.update_config(ctx.name, config)
    ctx.note("Set " + ", ".join(f"{key}={value}" for key, value in sorted(config.items())) + ".")


def start(ctx: StepContext) -> None:
    """Start the instance unless it already runs."""
    if ctx.lxd.instance_status(ctx.name) == "Running":
        ctx.note(f"Instance {ctx.name} is already running.")
        return
    ctx.lxd.start(ctx.name)
    ctx.note(f"Started {ctx.name}.")


def init_values(ctx: StepContext) -> dict[str, str]:
    """Return the values the init script reads, checked again here before they leave the portal.

    The form checked them already. Checking again means a row changed by
    hand, or by a bug elsewhere, still cannot put something unexpected into
    the container.
    """
    container, template, subnet, address = ctx.container, ctx.template, ctx.subnet, ctx.address
    try:
        validate_instance_name(container.name)
        validate_username(container.username, template.reserved_username_set())
        if not USERNAME_RE.match(template.default_user):
            raise ValidationError("invalid default user")
        validate_no_control_characters(ctx.request.ssh_keys, allow_newlines=True)
        parse_ssh_keys(ctx.request.ssh_keys)
        if ctx.request.password_hash and not is_crypt_hash(ctx.request.password_hash):
            raise ValidationError("invalid password hash")
        if address is None:
            raise ValidationError("no address")
        ip = ipaddress.IPv4Address(address.ip)
        if ip not in subnet.network:
            raise ValidationError("address outside subnet")
        dns = [str(ipaddress.IPv4Address(server)) for server in subnet.dns_servers]
    except (ValidationError, ValueError) as error:
        raise StepFailed(
            _("The request contains a value the portal cannot use. An administrator needs to look at it."),
            detail=f"Values failed the worker's checks: {error}",
            says_next_step=True,
        ) from error

    return {
        "OLD_USER": template.default_user,
        "NEW_USER": container.username,
        "HOST_NAME": container.name,
        "ADDRESS": str(ip),
        "PREFIX": str(subnet.prefix_length),
        "GATEWAY": str(ipaddress.IPv4Address(subnet.gateway)),
        "DNS": ",".join(dns),
    }


def push_init_files(ctx: StepContext) -> None:
    values = init_values(ctx)
    values_file = "".join(f"{key}={value}\n" for key, value in values.items())
    keys = "".join(f"{key}\n" for key in parse_ssh_keys(ctx.request.ssh_keys))

    ctx.lxd.execute(ctx.name, ["install", "-d", "-m", "0700", INIT_DIR])
    ctx.lxd.push_file(ctx.name, f"{INIT_DIR}/init-container.sh", INIT_SCRIPT.read_bytes(), mode=0o700)
    ctx.lxd.push_file(ctx.name, f"{INIT_DIR}/values", values_file.encode(), mode=0o600)
    ctx.lxd.push_file(ctx.name, f"{INIT_DIR}/password-hash", ctx.request.password_hash.encode(), mode=0o600)
    ctx.lxd.push_file(ctx.name, f"{INIT_DIR}/authorized_keys", keys.encode(), mode=0o600)


def push_script(ctx: StepContext) -> None:
    """Push the init script and its inputs (values, password hash, SSH keys) into the instance."""
    push_init_files(ctx)
    ctx.note(f"Pushed the init script and its inputs to {INIT_DIR}.")


def run_script(ctx: StepContext) -> None:
    """Run the init script inside the instance and record its output."""
    # The script deletes its inputs when it exits, so a second run (a retry,
    # or a worker that died while it ran) needs them pushed again.
    if ctx.lxd.execute(ctx.name, ["test", "-f", f"{INIT_DIR}/values"]).exit_code != 0:
        push_init_files(ctx)
        ctx.note("Pushed the init script's inputs again, because an earlier run had removed them.")

    result = ctx.lxd.execute(
        ctx.name, ["/bin/bash", f"{INIT_DIR}/init-container.sh", INIT_DIR], timeout=INIT_SCRIPT_TIMEOUT
    )
    output = trim_output(result.stdout + ("\n" + result.stderr if result.stderr.strip() else ""))
    if result.exit_code != 0:
        raise StepFailed(
            _("Setting up your user, password, SSH keys and network inside the container failed."),
            detail=f"init-container.sh exited with code {result.exit_code}:\n{output}",
        )
    ctx.note(output)


def restart(ctx: StepContext) -> None:
    """Restart the instance through LXD, so the new hostname and network take effect.

    A stopped instance is started instead, because that is what a restart
    cut short leaves behind, and a start applies the changes just as well.
    """
    for attempt in range(1, RESTART_ATTEMPTS + 1):
        try:
            if ctx.lxd.instance_status(ctx.name) == "Running":
                ctx.lxd.restart(ctx.name, timeout=RESTART_TIMEOUT)
                ctx.note(f"Restarted {ctx.name}.")
            else:
                ctx.lxd.start(ctx.name)
                ctx.note(f"Started {ctx.name}, which was stopped.")
            return
        except (InstanceNotFound, LXDUnavailable):
            raise
        except LXDError as error:
            # A worker that died during this step may have left its restart
            # running in LXD, which makes ours fail until it ends.
            if attempt == RESTART_ATTEMPTS:
                raise
            ctx.note(f"Restart attempt {attempt} failed, trying again: {error}")
            time.sleep(RESTART_RETRY_DELAY)


def wait_running(ctx: StepContext) -> None:
    """Wait until the instance runs and systemd has finished booting."""
    ctx.lxd.wait_running(ctx.name, timeout=settings.PROVISIONING_BOOT_TIMEOUT)
    ctx.note(f"{ctx.name} is running.")


def eth0_addresses(ctx: StepContext) -> tuple[list[str], str]:
    result = ctx.lxd.execute(ctx.name, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], timeout=10)
    return re.findall(r"\binet (\S+)", result.stdout), result.stdout + result.stderr


def verify(ctx: StepContext) -> None:
    """Check from outside that the container has its address, hostname and user, and accepts SSH connections."""
    expected = f"{ctx.address.ip}/{ctx.subnet.prefix_length}"
    failure = _("The container is running, but the final check of its address, user or SSH server failed.")

    # networkd may still be adding the address when boot is reported finished.
    deadline = time.monotonic() + ADDRESS_TIMEOUT
    while True:
        found, output = eth0_addresses(ctx)
        if found == [expected]:
            break
        if time.monotonic() >= deadline:
            raise StepFailed(
                failure,
                detail=f"eth0 has {found or 'no IPv4 address'}, expected exactly {expected}:\n{trim_output(output)}",
            )
        time.sleep(POLL_INTERVAL)

    hostname = ctx.lxd.execute(ctx.name, ["cat", "/proc/sys/kernel/hostname"], timeout=10).stdout.strip()
    if hostname != ctx.name:
        raise StepFailed(failure, detail=f"Hostname is {hostname!r}, expected {ctx.name!r}.")

    user = ctx.lxd.execute(ctx.name, ["getent", "passwd", ctx.container.username], timeout=10)
    fields = user.stdout.strip().split(":")
    if user.exit_code != 0 or len(fields) < 7 or fields[5] != f"/home/{ctx.container.username}":
        raise StepFailed(
            failure,
            detail=f"getent passwd {ctx.container.username} exited {user.exit_code}: {trim_output(user.stdout)}",
        )
    old_user = ctx.template.default_user
    if old_user != ctx.container.username:
        old = ctx.lxd.execute(ctx.name, ["getent", "passwd", old_user], timeout=10)
        if old.exit_code != 2:
            raise StepFailed(
                failure, detail=f"The template user {old_user} still exists (getent exited {old.exit_code})."
            )

    wait_for_ssh(ctx, failure)
    ctx.note(f"eth0 has {expected}, hostname {hostname}, user {ctx.container.username} exists, SSH answers.")


def wait_for_ssh(ctx: StepContext, failure) -> None:
    """Connect to port 22 of the container from the worker until a connection succeeds or the timeout passes."""
    deadline = time.monotonic() + settings.PROVISIONING_SSH_TIMEOUT
    last_error: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ctx.address.ip, 22), timeout=2):
                return
        except OSError as error:
            last_error = error
        time.sleep(POLL_INTERVAL)
    raise StepFailed(
        failure,
        detail=f"No SSH connection to {ctx.address.ip}:22 within {settings.PROVISIONING_SSH_TIMEOUT} s: {last_error}",
    )


# --- Removal -----------------------------------------------------------------


def delete(ctx: StepContext) -> None:
    """Delete the instance if this portal created it for the container, and leave any other instance alone."""
    if not ctx.lxd.instance_exists(ctx.name):
        ctx.note(f"Instance {ctx.name} does not exist, so there is nothing to delete.")
        return
    if not is_ours(ctx):
        ctx.note(f"Instance {ctx.name} was not created for this container. It was left untouched.")
        return
    ctx.lxd.delete(ctx.name)
    ctx.note(f"Deleted instance {ctx.name}.")


def release(ctx: StepContext) -> None:
    """Free the container's address by deleting its Address row."""
    if ctx.address is None:
        ctx.note("The container holds no address.")
        return
    ip = ctx.address.ip
    ctx.address.delete()
    ctx.address = None
    ctx.note(f"Released address {ip}.")


PROVISION = {
    "copy": copy,
    "configure": configure,
    "start": start,
    "push_script": push_script,
    "run_script": run_script,
    "restart": restart,
    "wait_running": wait_running,
    "verify": verify,
}
REMOVE = {"delete": delete, "release": release}
