"""Pytest fixtures for tests that use the real LXD daemon.

Import them in a test folder's conftest.py (or a test module) with
`from tests.lxd_fixtures import *  # noqa: F403`. Tests that use them carry
`@pytest.mark.lxd`.

Fixtures:
- `lxd_project` (session): the LXD project the tests use, from
  $PORTAL_TEST_LXD_PROJECT (default "portal-test"), so that people running tests
  at the same time do not touch each other's instances.
- `lxd_host` (session): an `hostops.lxd.LXDHost` on the local socket in that
  project. Before the first test it makes sure `template/gpu` exists there,
  running `scripts/setup-lxd.sh --project NAME` when it does not. After the
  last test it deletes every instance of the project whose name starts with
  `t-` (TEST_INSTANCE_PREFIX).
- `lxd_cleanup` (function): an `InstanceTracker`. `lxd_cleanup.new_name()`
  returns a fresh `t-...` name and tracks it, `lxd_cleanup.track(name)` tracks
  a name made elsewhere; every tracked instance is deleted after the test.
- `lxd_host_record` (function, needs the database): a saved
  `containers.models.Host` row for the same socket and project, for code that
  builds its `LXDHost` with `LXDHost.for_host(host)`.

Constants: LXD_SOCKET, TEMPLATE_SOURCE ("template"), TEMPLATE_SNAPSHOT ("gpu"),
TEST_INSTANCE_PREFIX ("t-").
"""

import logging
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from hostops.lxd import LXDError, LXDHost

__all__ = [
    "LXD_SOCKET",
    "TEMPLATE_SNAPSHOT",
    "TEMPLATE_SOURCE",
    "TEST_INSTANCE_PREFIX",
    "InstanceTracker",
    "lxd_cleanup",
    "lxd_host",
    "lxd_host_record",
    "lxd_project",
]

logger = logging.getLogger(__name__)

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SETUP_SCRIPT = REPOSITORY_ROOT / "scripts" / "setup-lxd.sh"
TEMPLATE_SOURCE = "template"
TEMPLATE_SNAPSHOT = "gpu"
TEST_INSTANCE_PREFIX = "t-"


def _default_socket() -> str:
    """Return Debian's LXD socket path, or the snap's when only that one exists."""
    for path in ("/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket"):
        if os.path.exists(path):
            return path
    return "/var/lib/lxd/unix.socket"


LXD_SOCKET = os.environ.get("PORTAL_TEST_LXD_SOCKET") or _default_socket()


class InstanceTracker:
    """Instance names a test creates, deleted when the test ends."""

    def __init__(self, host: LXDHost) -> None:
        self.host = host
        self.names: list[str] = []

    def new_name(self, label: str = "") -> str:
        """Return a new unused instance name (t-LABEL-xxxxxxxx) and track it."""
        suffix = uuid.uuid4().hex[:8]
        name = f"{TEST_INSTANCE_PREFIX}{label}-{suffix}" if label else f"{TEST_INSTANCE_PREFIX}{suffix}"
        return self.track(name)

    def track(self, name: str) -> str:
        if name not in self.names:
            self.names.append(name)
        return name

    def delete_all(self) -> None:
        for name in self.names:
            try:
                self.host.delete(name)
            except LXDError as error:
                logger.warning("Could not delete test instance %s: %s", name, error)


@pytest.fixture(scope="session")
def lxd_project() -> str:
    return os.environ.get("PORTAL_TEST_LXD_PROJECT", "portal-test")


@pytest.fixture(scope="session")
def lxd_host(lxd_project):
    host = LXDHost(LXD_SOCKET, project=lxd_project)
    if not _template_ready(host):
        result = subprocess.run(
            [str(SETUP_SCRIPT), "--project", lxd_project],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{SETUP_SCRIPT} --project {lxd_project} failed with exit code {result.returncode}:\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}",
                pytrace=False,
            )
        host = LXDHost(LXD_SOCKET, project=lxd_project)
        if not _template_ready(host):
            pytest.fail(f"{TEMPLATE_SOURCE}/{TEMPLATE_SNAPSHOT} is still missing in LXD project {lxd_project}.")

    yield host

    for name in host.list_instances():
        if name.startswith(TEST_INSTANCE_PREFIX):
            try:
                host.delete(name)
            except LXDError as error:
                logger.warning("Could not delete leftover test instance %s: %s", name, error)


def _template_ready(host: LXDHost) -> bool:
    try:
        return host.snapshot_exists(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT)
    except LXDError:
        return False


@pytest.fixture
def lxd_cleanup(lxd_host):
    tracker = InstanceTracker(lxd_host)
    yield tracker
    tracker.delete_all()


@pytest.fixture
def lxd_host_record(db, lxd_project):
    from containers.models import Host

    return Host.objects.create(name="test-lxd", endpoint=LXD_SOCKET, project=lxd_project, collects_gpu=False)
