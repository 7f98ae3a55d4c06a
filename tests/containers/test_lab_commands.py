"""Management commands that register the lab: add_subnet, add_host, add_template, list_lab, seed_demo."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from containers.management.lab_setup import system_usernames_from_passwd
from containers.models import Host, Subnet, Template
from tests.lxd_fixtures import LXD_SOCKET, TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE

SUBNET_OPTIONS = [
    "--cidr=198.18.0.0/24",
    "--gateway=198.18.0.1",
    "--dns=198.18.0.1,198.18.0.2",
    "--bridge=portalbr0",
    "--range-start=198.18.0.100",
    "--range-end=198.18.0.109",
    "--exclude=198.18.0.105",
    "--exclude=198.18.0.108-198.18.0.109",
]


def run(command: str, *args) -> tuple[str, str]:
    """Run a management command and return its stdout and stderr."""
    stdout, stderr = StringIO(), StringIO()
    call_command(command, *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def lab_subnet(db):
    run("add_subnet", "cmd-lab", *SUBNET_OPTIONS)
    return Subnet.objects.get(name="cmd-lab")


def test_add_subnet_saves_all_fields(lab_subnet):
    assert lab_subnet.cidr == "198.18.0.0/24"
    assert lab_subnet.dns_servers == ["198.18.0.1", "198.18.0.2"]
    assert lab_subnet.bridge == "portalbr0"
    assert lab_subnet.excluded == "198.18.0.105\n198.18.0.108-198.18.0.109"
    assert [str(address) for address in lab_subnet.allocatable()] == [
        "198.18.0.100",
        "198.18.0.101",
        "198.18.0.102",
        "198.18.0.103",
        "198.18.0.104",
        "198.18.0.106",
        "198.18.0.107",
    ]


def test_add_subnet_reports_every_invalid_field(db):
    with pytest.raises(CommandError) as caught:
        run(
            "add_subnet",
            "bad",
            "--cidr=10.0.0.0/24",
            "--gateway=10.0.1.1",
            "--dns=10.0.0.1",
            "--bridge=br0",
            "--range-start=10.0.0.20",
            "--range-end=10.0.0.10",
            "--exclude=not-an-address",
        )

    message = str(caught.value)
    assert "gateway: This address is outside 10.0.0.0/24." in message
    assert "range_end:" in message
    assert "not-an-address" in message
    assert not Subnet.objects.filter(name="bad").exists()


def test_add_subnet_existing_name_needs_update(lab_subnet):
    with pytest.raises(CommandError) as caught:
        run("add_subnet", "cmd-lab", *SUBNET_OPTIONS)
    assert "--update" in str(caught.value)

    run("add_subnet", "cmd-lab", *SUBNET_OPTIONS[:-2], "--update")

    lab_subnet.refresh_from_db()
    assert lab_subnet.excluded == ""
    assert Subnet.objects.filter(name="cmd-lab").count() == 1


@pytest.mark.lxd
def test_add_host_checks_connection(lab_subnet, lxd_host, lxd_project):
    stdout, stderr = run(
        "add_host",
        "cmd-gpu",
        f"--endpoint={LXD_SOCKET}",
        f"--project={lxd_project}",
        "--address=198.18.0.1",
        "--subnet=cmd-lab",
        "--no-gpu",
    )

    host = Host.objects.get(name="cmd-gpu")
    assert host.endpoint == LXD_SOCKET
    assert host.project == lxd_project
    assert host.subnet == lab_subnet
    assert host.collects_gpu is False
    assert "LXD is reachable" in stdout
    assert stderr == ""


def test_add_host_unreachable_socket_warns(db, tmp_path):
    socket_path = str(tmp_path / "missing.socket")

    stdout, stderr = run("add_host", "cmd-far", f"--endpoint={socket_path}")

    assert Host.objects.filter(name="cmd-far", endpoint=socket_path).exists()
    assert "Saved host cmd-far" in stdout
    assert "not reachable" in stderr


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--endpoint=relative/path"], "endpoint: Enter a socket path"),
        (["--endpoint=https://gpu2.example.test:8443"], "client_cert: An https endpoint needs"),
        (["--endpoint=/var/lib/lxd/unix.socket", "--subnet=no-such-subnet"], "Subnet no-such-subnet not found."),
        (["--endpoint=/var/lib/lxd/unix.socket", "--address=999.1.1.1"], "address:"),
    ],
)
def test_add_host_rejects_invalid_input(db, options, expected):
    with pytest.raises(CommandError) as caught:
        run("add_host", "cmd-bad", *options, "--no-check")

    assert expected in str(caught.value)
    assert not Host.objects.filter(name="cmd-bad").exists()


@pytest.fixture
def test_project_host(db, lxd_host, lxd_project):
    return Host.objects.create(name="cmd-gpu", endpoint=LXD_SOCKET, project=lxd_project, collects_gpu=False)


@pytest.mark.lxd
def test_add_template_reads_system_usernames(test_project_host):
    stdout, _ = run("add_template", "Cmd Debian", "--host=cmd-gpu", "--memory-limit=2GiB", "--cpu-limit=2")

    template = Template.objects.get(name="Cmd Debian")
    reserved = template.reserved_username_set()
    assert {"root", "daemon", "sshd", "nobody"} <= reserved
    assert "tmp" not in reserved
    assert template.source == TEMPLATE_SOURCE
    assert template.snapshot == TEMPLATE_SNAPSHOT
    assert template.memory_limit == "2GiB"
    assert template.cpu_limit == 2
    assert "Saved template Cmd Debian" in stdout


@pytest.mark.lxd
def test_add_template_missing_snapshot_fails(test_project_host, lxd_project):
    with pytest.raises(CommandError) as caught:
        run("add_template", "Cmd Missing", "--host=cmd-gpu", "--snapshot=no-such-snapshot")

    assert f"{TEMPLATE_SOURCE}/no-such-snapshot not found in LXD project {lxd_project}" in str(caught.value)
    assert not Template.objects.filter(name="Cmd Missing").exists()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--host=no-such-host"], "Host no-such-host not found."),
        (["--host=cmd-offline", "--memory-limit=lots"], "Invalid memory limit lots"),
        (["--host=cmd-offline", "--cpu-limit=0"], "The CPU limit must be at least 1."),
        (["--host=cmd-offline", "--snapshot=bad/name"], "snapshot:"),
    ],
)
def test_add_template_rejects_invalid_input(db, options, expected):
    Host.objects.create(name="cmd-offline", endpoint="/nonexistent/lxd.socket")

    with pytest.raises(CommandError) as caught:
        run("add_template", "Cmd Bad", *options, "--no-check")

    assert expected in str(caught.value)
    assert not Template.objects.exists()


def test_add_template_no_check_skips_lxd(db):
    Host.objects.create(name="cmd-offline", endpoint="/nonexistent/lxd.socket")

    run("add_template", "Cmd Offline", "--host=cmd-offline", "--no-check", "--reserve=slurm", "--inactive")

    template = Template.objects.get(name="Cmd Offline")
    assert template.reserved_username_set() == {"slurm"}
    assert template.is_active is False


@pytest.mark.lxd
def test_list_lab_shows_state_from_lxd(lab_subnet, test_project_host):
    Template.objects.create(name="Cmd Present", host=test_project_host)
    Template.objects.create(name="Cmd Absent", host=test_project_host, snapshot="no-such-snapshot")
    Host.objects.create(name="cmd-offline", endpoint="/nonexistent/lxd.socket")

    stdout, _ = run("list_lab")

    lines = stdout.splitlines()
    assert any("cmd-gpu" in line and "reachable" in line and "unreachable" not in line for line in lines)
    assert any("cmd-offline" in line and "unreachable" in line for line in lines)
    assert any("Cmd Present" in line and "snapshot present" in line for line in lines)
    assert any("Cmd Absent" in line and "snapshot missing" in line for line in lines)
    assert any("cmd-lab" in line and "0 of 7 addresses held" in line for line in lines)


@pytest.mark.lxd
def test_seed_demo_twice_keeps_one_lab(db, lxd_host, lxd_project, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-admin-password-1")
    monkeypatch.setenv("DEMO_STUDENT_PASSWORD", "demo-student-password-1")

    run("seed_demo", f"--project={lxd_project}")
    stdout, _ = run("seed_demo", f"--project={lxd_project}")

    users = get_user_model().objects
    assert users.filter(username="admin", is_staff=True, is_superuser=True).count() == 1
    assert users.filter(username="student", is_staff=False).count() == 1
    assert users.get(username="admin").check_password("demo-admin-password-1")
    assert users.get(username="student").check_password("demo-student-password-1")
    assert Subnet.objects.get().name == "demo"
    assert Host.objects.get().project == lxd_project
    assert Template.objects.get().host.name == "local"
    assert "admin / demo-admin-password-1" in stdout


def test_system_usernames_from_passwd():
    passwd = "\n".join(
        [
            "root:x:0:0:root:/root:/bin/bash",
            "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin",
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
            "tmp:x:1000:1000::/home/tmp:/bin/bash",
            "broken line",
            "odd:x:notanumber:0::/:/bin/sh",
            "",
        ]
    )

    assert system_usernames_from_passwd(passwd) == ["nobody", "root", "sshd"]
