"""Fixtures for the GPU tests: recorded nvidia-smi output, stand-in programs and proc trees."""

import shlex
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from containers.models import Container, ContainerRequest, Host, Template
from tests.lxd_fixtures import *  # noqa: F403 (lxd_host, lxd_cleanup, lxd_project for the tests marked lxd)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvidia"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def write_stand_in_nvidia_smi(
    directory: Path,
    stdout: str = "",
    stderr: str = "",
    exit_code: int = 0,
    sleep_seconds: int = 0,
    name: str = "nvidia-smi",
) -> Path:
    """Write an executable that behaves like nvidia-smi: prints the given text and exits.

    The texts go to files beside the script, so any content is printed
    byte for byte. It checks that it was called as `-q -x`, as the portal must.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.stdout").write_text(stdout)
    (directory / f"{name}.stderr").write_text(stderr)
    script = directory / name
    lines = [
        "#!/bin/sh",
        'if [ "$1 $2" != "-q -x" ]; then echo "unexpected arguments: $*" >&2; exit 2; fi',
    ]
    if sleep_seconds:
        lines.append(f"exec sleep {sleep_seconds}")
    lines += [
        f"cat {shlex.quote(str(directory / f'{name}.stdout'))}",
        f"cat {shlex.quote(str(directory / f'{name}.stderr'))} >&2",
        f"exit {exit_code}",
    ]
    script.write_text("\n".join(lines) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@pytest.fixture
def stand_in_nvidia_smi(tmp_path, settings) -> Callable[..., Path]:
    """Return a function that writes a stand-in nvidia-smi and points NVIDIA_SMI_PATH at it."""

    def install(**kwargs) -> Path:
        script = write_stand_in_nvidia_smi(tmp_path / "bin", **kwargs)
        settings.NVIDIA_SMI_PATH = str(script)
        return script

    return install


def write_proc_tree(root: Path, cgroups: dict[int, str], uids: dict[int, int] | None = None) -> Path:
    """Write ROOT/PID/cgroup (and ROOT/PID/status with a Uid line where given)."""
    for pid, text in cgroups.items():
        directory = root / str(pid)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cgroup").write_text(text)
        if uids and pid in uids:
            uid = uids[pid]
            (directory / "status").write_text(f"Name:\tpython\nPid:\t{pid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    return root


def v2(path: str) -> str:
    return f"0::{path}\n"


def hybrid(path: str, unified: str = "/") -> str:
    """A hybrid host's cgroup file: v1 controllers show `path`, the unified line shows `unified`."""
    controllers = ["name=systemd", "pids", "blkio", "freezer", "devices", "memory", "cpuset", "cpu,cpuacct", "rdma"]
    lines = [f"{number}:{name}:{path}" for number, name in zip(range(12, 3, -1), controllers, strict=True)]
    return "\n".join(lines) + f"\n0::{unified}\n"


@pytest.fixture
def gpu_host(db) -> Host:
    return Host.objects.create(name="gpu1", endpoint="/var/lib/lxd/unix.socket", project="default")


@pytest.fixture
def make_container(db) -> Callable[..., Container]:
    """Return a function that creates a ready Container owned by `owner` on `host`."""

    def create(owner, host: Host, name: str, status: str = Container.Status.READY) -> Container:
        template, _ = Template.objects.get_or_create(host=host, source="template", snapshot="gpu", name=f"t-{host.pk}")
        request = ContainerRequest.objects.create(
            member=owner,
            template=template,
            name=name,
            username=owner.username,
            reason="research",
            status=ContainerRequest.Status.APPROVED,
        )
        return Container.objects.create(
            request=request,
            owner=owner,
            host=host,
            template=template,
            name=name,
            username=owner.username,
            status=status,
        )

    return create
