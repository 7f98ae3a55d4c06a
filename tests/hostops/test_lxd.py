"""LXDHost against the real LXD daemon, in the test project from PORTAL_TEST_LXD_PROJECT."""

import json
import socket
import subprocess

import pytest

from hostops.lxd import (
    ExecResult,
    InstanceExists,
    InstanceNotFound,
    LXDError,
    LXDHost,
    LXDTimeout,
    LXDUnavailable,
    SnapshotNotFound,
)
from tests.lxd_fixtures import TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE

pytestmark = pytest.mark.lxd

BOOT_TIMEOUT = 120


def query_instance(project: str, name: str) -> dict:
    """Read an instance through the `lxc` client, independently of LXDHost."""
    output = subprocess.run(
        ["lxc", "query", f"/1.0/instances/{name}?project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


@pytest.fixture
def stopped_copy(lxd_host, lxd_cleanup):
    name = lxd_cleanup.new_name("copy")
    lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, name)
    return name


@pytest.fixture
def running_copy(lxd_host, stopped_copy):
    lxd_host.start(stopped_copy)
    lxd_host.wait_running(stopped_copy, BOOT_TIMEOUT)
    return stopped_copy


def test_copy_has_root_disk_and_config(lxd_host, lxd_cleanup, lxd_project):
    name = lxd_cleanup.new_name("copy")

    lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, name, config={"limits.cpu": "1"})

    instance = query_instance(lxd_project, name)
    assert instance["status"] == "Stopped"
    assert instance["expanded_devices"]["root"]["pool"] == "portal"
    assert instance["expanded_devices"]["root"]["path"] == "/"
    assert instance["expanded_devices"]["eth0"]["parent"] == "portalbr0"
    assert instance["config"]["limits.cpu"] == "1"
    assert lxd_host.instance_status(name) == "Stopped"


def test_copy_boots_with_own_hostname(lxd_host, running_copy):
    assert lxd_host.instance_status(running_copy) == "Running"
    hostname = lxd_host.execute(running_copy, ["cat", "/etc/hostname"], timeout=30)
    assert hostname.stdout.strip() == running_copy
    system_state = lxd_host.execute(running_copy, ["systemctl", "is-system-running"], timeout=30)
    assert system_state.stdout.strip() == "running"


def test_copy_to_existing_name_raises(lxd_host, stopped_copy):
    with pytest.raises(InstanceExists) as caught:
        lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, stopped_copy)

    assert stopped_copy in str(caught.value)


def test_copy_of_missing_snapshot_raises(lxd_host, lxd_cleanup):
    name = lxd_cleanup.new_name("copy")

    with pytest.raises(SnapshotNotFound):
        lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, "no-such-snapshot", name)
    with pytest.raises(SnapshotNotFound):
        lxd_host.copy_from_snapshot("t-no-such-source", TEMPLATE_SNAPSHOT, name)

    assert lxd_host.instance_status(name) is None


def test_snapshot_exists(lxd_host):
    assert lxd_host.snapshot_exists(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT) is True
    assert lxd_host.snapshot_exists(TEMPLATE_SOURCE, "no-such-snapshot") is False
    assert lxd_host.snapshot_exists("t-no-such-source", TEMPLATE_SNAPSHOT) is False


def test_list_instances_and_all_projects(lxd_host, stopped_copy, lxd_project):
    assert stopped_copy in lxd_host.list_instances()
    assert TEMPLATE_SOURCE in lxd_host.list_instances()
    everything = lxd_host.list_all_instances()
    assert (lxd_project, stopped_copy) in everything
    assert ("default", TEMPLATE_SOURCE) in everything


def test_execute_returns_exit_code_and_output(lxd_host, running_copy):
    result = lxd_host.execute(running_copy, ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)

    assert result == ExecResult(exit_code=3, stdout="out\n", stderr="err\n")


@pytest.mark.parametrize(
    "argument",
    ["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "x; touch /tmp/pwned", "x | touch /tmp/pwned", "x\ntouch /tmp/pwned"],
)
def test_execute_passes_metacharacters_literally(lxd_host, running_copy, argument):
    result = lxd_host.execute(running_copy, ["echo", argument], timeout=30)

    assert result.stdout == argument + "\n"
    check = lxd_host.execute(running_copy, ["test", "-e", "/tmp/pwned"], timeout=30)
    assert check.exit_code == 1


def test_execute_past_timeout_raises_lxd_timeout(lxd_host, running_copy):
    with pytest.raises(LXDTimeout) as caught:
        lxd_host.execute(running_copy, ["sleep", "60"], timeout=2)

    assert running_copy in str(caught.value)


def test_execute_rejects_shell_string(lxd_host, running_copy):
    with pytest.raises(TypeError):
        lxd_host.execute(running_copy, "echo hello")
    with pytest.raises(TypeError):
        lxd_host.execute(running_copy, [])


def test_execute_in_missing_instance(lxd_host):
    with pytest.raises(InstanceNotFound):
        lxd_host.execute("t-no-such-instance", ["true"])


def test_push_file_sets_mode_and_owner(lxd_host, running_copy):
    lxd_host.push_file(running_copy, "/home/tmp/note", b"hello\n", mode=0o640, uid=1000, gid=1000)

    stat = lxd_host.execute(running_copy, ["stat", "-c", "%a %u %g", "/home/tmp/note"], timeout=30)
    assert stat.stdout.strip() == "640 1000 1000"
    assert lxd_host.read_file(running_copy, "/home/tmp/note") == b"hello\n"


def test_push_file_tightens_existing_mode(lxd_host, running_copy):
    lxd_host.push_file(running_copy, "/root/secret", b"old", mode=0o644, uid=1000, gid=1000)

    lxd_host.push_file(running_copy, "/root/secret", b"new", mode=0o600)

    stat = lxd_host.execute(running_copy, ["stat", "-c", "%a %u %g", "/root/secret"], timeout=30)
    assert stat.stdout.strip() == "600 0 0"
    assert lxd_host.read_file(running_copy, "/root/secret") == b"new"


def test_push_file_default_mode_is_private(lxd_host, stopped_copy):
    lxd_host.push_file(stopped_copy, "/root/default-mode", b"x")

    lxd_host.start(stopped_copy)
    lxd_host.wait_running(stopped_copy, BOOT_TIMEOUT)
    stat = lxd_host.execute(stopped_copy, ["stat", "-c", "%a", "/root/default-mode"], timeout=30)
    assert stat.stdout.strip() == "600"


def test_read_file_of_stopped_template(lxd_host):
    passwd = lxd_host.read_file(TEMPLATE_SOURCE, "/etc/passwd").decode()

    assert "\ntmp:x:1000:1000:" in passwd


def test_read_missing_file_raises_lxd_error(lxd_host, running_copy):
    with pytest.raises(LXDError) as caught:
        lxd_host.read_file(running_copy, "/no/such/file")

    assert not isinstance(caught.value, InstanceNotFound)
    assert "/no/such/file" in str(caught.value)


def test_error_message_omits_file_content(lxd_host):
    with pytest.raises(InstanceNotFound) as caught:
        lxd_host.push_file("t-no-such-instance", "/root/secret", b"hunter2-password")

    message = str(caught.value)
    assert "t-no-such-instance" in message
    assert "hunter2" not in message


def test_restart_goes_through_api(lxd_host, running_copy):
    # /run is a tmpfs, so a marker there disappears only if the instance really restarted.
    lxd_host.push_file(running_copy, "/run/restart-marker", b"1")

    lxd_host.restart(running_copy, timeout=60)
    lxd_host.wait_running(running_copy, BOOT_TIMEOUT)

    marker = lxd_host.execute(running_copy, ["test", "-e", "/run/restart-marker"], timeout=30)
    assert marker.exit_code == 1
    assert lxd_host.instance_status(running_copy) == "Running"


def test_stop_and_start(lxd_host, running_copy):
    lxd_host.stop(running_copy)
    assert lxd_host.instance_status(running_copy) == "Stopped"
    lxd_host.stop(running_copy)

    lxd_host.start(running_copy)
    assert lxd_host.instance_status(running_copy) == "Running"
    lxd_host.start(running_copy)


def test_wait_running_on_stopped_instance_times_out(lxd_host, stopped_copy):
    with pytest.raises(LXDTimeout) as caught:
        lxd_host.wait_running(stopped_copy, timeout=2)

    assert stopped_copy in str(caught.value)


def test_wait_running_on_missing_instance(lxd_host):
    with pytest.raises(InstanceNotFound):
        lxd_host.wait_running("t-no-such-instance", timeout=2)


def test_update_config_sets_keys_and_keeps_others(lxd_host, stopped_copy, lxd_project):
    lxd_host.update_config(stopped_copy, {"limits.memory": "512MiB"})
    lxd_host.update_config(stopped_copy, {"limits.cpu": "1"})

    config = query_instance(lxd_project, stopped_copy)["config"]
    assert config["limits.memory"] == "512MiB"
    assert config["limits.cpu"] == "1"


def test_instance_config_returns_own_keys(lxd_host, stopped_copy):
    lxd_host.update_config(stopped_copy, {"user.portal.marker": "42"})

    config = lxd_host.instance_config(stopped_copy)
    assert config["user.portal.marker"] == "42"
    assert "volatile.base_image" in config
    with pytest.raises(InstanceNotFound):
        lxd_host.instance_config("t-no-such-instance")


def test_update_config_rejects_invalid_value(lxd_host, stopped_copy):
    with pytest.raises(LXDError) as caught:
        lxd_host.update_config(stopped_copy, {"limits.memory": "lots"})

    assert stopped_copy in str(caught.value)


def test_ipv4_addresses_lists_global_addresses(lxd_host, running_copy):
    assert lxd_host.ipv4_addresses(running_copy) == []

    # 198.18.0.0/24 is the portal's own test subnet on bridge portalbr0.
    lxd_host.execute(running_copy, ["ip", "address", "add", "198.18.0.250/24", "dev", "eth0"], timeout=30)

    assert lxd_host.ipv4_addresses(running_copy) == ["198.18.0.250"]
    assert lxd_host.ipv4_addresses(running_copy, nic="no-such-nic") == []


def test_delete_running_instance(lxd_host, running_copy):
    lxd_host.delete(running_copy)

    assert lxd_host.instance_status(running_copy) is None
    assert running_copy not in lxd_host.list_instances()


def test_delete_absent_instance_is_noop(lxd_host):
    lxd_host.delete("t-no-such-instance")

    assert lxd_host.instance_exists("t-no-such-instance") is False


def test_missing_socket_raises_unavailable(tmp_path):
    host = LXDHost(str(tmp_path / "missing.socket"), project="default")

    with pytest.raises(LXDUnavailable):
        host.list_instances()
    with pytest.raises(LXDUnavailable):
        host.instance_exists("t-anything")


def test_refused_socket_raises_unavailable(tmp_path):
    path = tmp_path / "dead.socket"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))  # bound but never listening: connections are refused
    try:
        host = LXDHost(str(path), project="default")
        with pytest.raises(LXDUnavailable) as caught:
            host.instance_status("t-anything")
    finally:
        server.close()

    assert str(path) in str(caught.value)


def test_plain_http_endpoint_is_rejected():
    host = LXDHost("http://127.0.0.1:8443", project="default")

    with pytest.raises(LXDError) as caught:
        host.list_instances()

    assert not isinstance(caught.value, LXDUnavailable)


def test_for_host_reads_endpoint_and_project(lxd_host_record, lxd_host):
    host = LXDHost.for_host(lxd_host_record)

    assert host.endpoint == lxd_host_record.endpoint
    assert host.project == lxd_host.project
    assert TEMPLATE_SOURCE in host.list_instances()
