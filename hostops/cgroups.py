"""Find which LXD instance a host process belongs to, from /proc/PID/cgroup.

LXD (through LXC) puts each container's processes in a cgroup named after the
instance. The line format is `HIERARCHY:CONTROLLERS:PATH` and the paths seen
on real hosts are:

- `0::/lxc.payload.NAME/...`: cgroup v2, LXC 4 and later (LXD 4.0 onwards);
  the same path appears on every v1 controller line of a v1 or hybrid host.
- `/lxc.payload/NAME/...` (LXC 3.1 and 3.2) and `/lxc/NAME/...` (LXC 3.0 and
  older, LXD 3.0 on Ubuntu 18.04).
- `lxc.payload.PROJECT_NAME`: an instance outside the `default` project.
  Instance names never contain `_` (they are hostnames) but a project name
  may, so the split is at the last `_`.
- `lxc.payload.NAME-1`, `-2`: LXC appends a number when a cgroup of that
  name is left over, so the suffix is removed only when the host's instance
  list has the shorter name and not the longer one.

Not containers: `lxc.monitor.NAME` (LXD's monitor process for the instance),
a top-level `/.lxc` (an attach helper between cgroups), and paths with `..`
(the process sits outside the reader's cgroup namespace, so its path is
relative to somewhere unknown). A process whose every line names none of
these belongs to the host itself.
"""

import pwd
import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

DEFAULT_PROJECT = "default"
PAYLOAD_PREFIX = "lxc.payload."
MONITOR_PREFIX = "lxc.monitor."
CLASH_SUFFIX_RE = re.compile(r"^(?P<base>.+)-(?P<number>\d+)$")


class OwnerKind(str, Enum):
    CONTAINER = "container"
    HOST = "host"
    LXD_MONITOR = "lxd-monitor"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProcessOwner:
    """Owner of a process: an LXD instance, LXD itself or the host."""

    kind: OwnerKind
    project: str | None = None
    instance: str | None = None
    # Unix user of a host process, from /proc/PID/status; None for the others.
    user: str | None = None
    # The cgroup path that decided the kind, kept for administrators.
    cgroup: str = ""


def split_project(cgroup_name: str) -> tuple[str, str]:
    """Split an LXC cgroup name into (project, instance) at the last `_`."""
    project, separator, instance = cgroup_name.rpartition("_")
    if not separator or not project or not instance:
        return DEFAULT_PROJECT, cgroup_name
    return project, instance


def resolve_instance(project: str, name: str, instances: Collection[tuple[str, str]] | None) -> str:
    """Return the instance name behind cgroup name `name`, undoing LXC's `-N` clash suffix.

    Without an instance list the name is returned as it is, because a
    trailing `-2` may just as well be part of the real name.
    """
    if instances is None or (project, name) in instances:
        return name
    match = CLASH_SUFFIX_RE.match(name)
    if match and (project, match.group("base")) in instances:
        return match.group("base")
    return name


def classify_path(path: str) -> tuple[OwnerKind, str | None] | None:
    """Classify one cgroup path; return None when it names no LXC cgroup.

    The outermost LXC component wins, so a process of a nested container
    (`/lxc.payload.outer/.../lxc.payload.inner`) belongs to the outer one,
    which is the one this host runs.
    """
    components = [component for component in path.split("/") if component]
    if ".." in components:
        return OwnerKind.UNKNOWN, None
    for position, component in enumerate(components):
        following = components[position + 1] if position + 1 < len(components) else None
        if component.startswith(PAYLOAD_PREFIX) and len(component) > len(PAYLOAD_PREFIX):
            return OwnerKind.CONTAINER, component[len(PAYLOAD_PREFIX) :]
        if component in ("lxc.payload", "lxc") and following and not following.startswith("."):
            return OwnerKind.CONTAINER, following
        if component.startswith(MONITOR_PREFIX) and len(component) > len(MONITOR_PREFIX):
            return OwnerKind.LXD_MONITOR, component[len(MONITOR_PREFIX) :]
        if component == "lxc.monitor" and following:
            return OwnerKind.LXD_MONITOR, following
        if component == "lxc.pivot":
            return OwnerKind.LXD_MONITOR, None
        if position == 0 and component == ".lxc":
            return OwnerKind.UNKNOWN, None
    return None


def classify_cgroup(text: str, instances: Collection[tuple[str, str]] | None = None) -> ProcessOwner:
    """Decide what the process with this /proc/PID/cgroup content belongs to.

    Every line is read, because on a hybrid host the unified line may show
    `/` while the v1 controllers show the container. A container found on
    any line beats the LXD monitor, which beats an unknown path; a process
    with none of them is the host's.
    """
    found: dict[OwnerKind, tuple[str | None, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2]
        result = classify_path(path)
        if result is not None:
            kind, name = result
            found.setdefault(kind, (name, path))

    for kind in (OwnerKind.CONTAINER, OwnerKind.LXD_MONITOR, OwnerKind.UNKNOWN):
        if kind not in found:
            continue
        cgroup_name, path = found[kind]
        if cgroup_name is None:
            return ProcessOwner(kind=kind, cgroup=path)
        project, name = split_project(cgroup_name)
        if kind == OwnerKind.CONTAINER:
            name = resolve_instance(project, name, instances)
        return ProcessOwner(kind=kind, project=project, instance=name, cgroup=path)
    return ProcessOwner(kind=OwnerKind.HOST, cgroup="/")


def read_unix_user(status_text: str) -> str | None:
    """Return the name of the real UID in /proc/PID/status, or the number if it has no name."""
    for line in status_text.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) < 2 or not fields[1].isdigit():
                return None
            uid = int(fields[1])
            try:
                return pwd.getpwuid(uid).pw_name
            except KeyError:
                return str(uid)
    return None


def read_process_owner(
    pid: int, proc_root: str | Path = "/proc", instances: Collection[tuple[str, str]] | None = None
) -> ProcessOwner | None:
    """Read /proc/PID/cgroup under `proc_root` and classify the process.

    Return None when the process is gone (it exited between nvidia-smi's
    report and this read), so the caller skips it. For a host process the
    Unix user is read from /proc/PID/status.
    """
    directory = Path(proc_root) / str(pid)
    try:
        owner = classify_cgroup((directory / "cgroup").read_text(errors="replace"), instances)
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except PermissionError:
        return ProcessOwner(kind=OwnerKind.UNKNOWN, cgroup="(cgroup file not readable)")
    if owner.kind != OwnerKind.HOST:
        return owner

    try:
        status = (directory / "status").read_text(errors="replace")
    except FileNotFoundError:
        # A saved proc tree may hold only the cgroup files.
        if directory.is_dir():
            return owner
        return None
    except ProcessLookupError:
        return None
    return ProcessOwner(kind=OwnerKind.HOST, user=read_unix_user(status), cgroup=owner.cgroup)
