"""Attribution against real LXD containers: real host PIDs, real cgroup files, a stand-in nvidia-smi.

Three containers are copied from the template snapshot. The first is in the
test project and the second in a second project, so its cgroup has the
`PROJECT_` prefix. The third starts while a leftover cgroup of its name
exists, so LXC names its cgroup `NAME-1`. Each runs a `sleep` with a unique argument; the test finds
the host PIDs in /proc, prints them in an nvidia-smi report, and checks that
the collection task and `gpu_snapshot` attribute each to the right instance.
"""

import io
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

from containers.models import Host
from gpus.models import GpuProcess, OwnerKind
from gpus.tasks import collect_gpu_samples
from hostops.lxd import LXDError, LXDHost
from tests.gpus.conftest import write_stand_in_nvidia_smi
from tests.lxd_fixtures import LXD_SOCKET, SETUP_SCRIPT, TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE, InstanceTracker

pytestmark = [pytest.mark.lxd, pytest.mark.django_db]

BOOT_TIMEOUT = 120
# Attempts, one second apart, to see a process started in a container appear in /proc.
PROCESS_LOOKUP_ATTEMPTS = 30


@pytest.fixture(scope="session")
def second_lxd_host(lxd_host, lxd_project):
    """An LXDHost on a second project, named after the first with a "b" appended."""
    project = os.environ.get("PORTAL_TEST_LXD_PROJECT_B") or f"{lxd_project}b"
    host = LXDHost(LXD_SOCKET, project=project)
    try:
        ready = host.snapshot_exists(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT)
    except LXDError:
        ready = False
    if not ready:
        result = subprocess.run(
            [str(SETUP_SCRIPT), "--project", project], stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        if result.returncode != 0:
            pytest.fail(f"{SETUP_SCRIPT} --project {project} failed:\n{result.stderr[-2000:]}", pytrace=False)
    return LXDHost(LXD_SOCKET, project=project)


@pytest.fixture
def second_cleanup(second_lxd_host):
    tracker = InstanceTracker(second_lxd_host)
    yield tracker
    tracker.delete_all()


def unified_cgroup_root() -> Path:
    """Return the mount point of the cgroup v2 hierarchy: /sys/fs/cgroup/unified on hybrid hosts."""
    for candidate in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if (candidate / "cgroup.controllers").exists() or (candidate / "cgroup.procs").exists():
            if (candidate / "cgroup.subtree_control").exists():
                return candidate
    pytest.skip("No cgroup v2 hierarchy mounted; the clash-suffix case needs one.")


@pytest.fixture
def leftover_cgroup():
    """Create empty cgroups as a crashed container would leave them; remove them afterwards."""
    created: list[Path] = []

    def create(project: str, name: str) -> Path:
        cgroup_name = name if project == "default" else f"{project}_{name}"
        path = unified_cgroup_root() / f"lxc.payload.{cgroup_name}"
        path.mkdir()
        created.append(path)
        return path

    yield create
    for path in created:
        try:
            path.rmdir()
        except OSError:
            pass


def start_container(host: LXDHost, name: str) -> None:
    host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, name)
    host.start(name)
    host.wait_running(name, timeout=BOOT_TIMEOUT)


def find_host_pid(marker: str) -> int:
    """Return the host PID of the `sleep MARKER` process, waiting for it to appear."""
    wanted = f"sleep\0{marker}\0".encode()
    for _ in range(PROCESS_LOOKUP_ATTEMPTS):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    return int(entry.name)
            except OSError:
                continue
        subprocess.run(["sleep", "1"], check=True)
    pytest.fail(f"No host process runs sleep {marker}.")


def start_sleep(host: LXDHost, name: str) -> tuple[str, int]:
    """Start a detached `sleep` with a unique argument in the container and return (marker, host PID)."""
    marker = str(10_000_000 + uuid.uuid4().int % 80_000_000)
    result = host.execute(name, ["sh", "-c", f"setsid sleep {marker} </dev/null >/dev/null 2>&1 &"], timeout=30)
    assert result.exit_code == 0, result.stderr
    return marker, find_host_pid(marker)


def monitor_pid(project: str, name: str) -> int | None:
    """Return the PID of LXD's `[lxc monitor]` process for the instance."""
    cgroup_name = name if project == "default" else f"{project}_{name}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("[lxc monitor]") and cmdline.rstrip().endswith(f" {cgroup_name}"):
            return int(entry.name)
    return None


def init_pid(project: str, name: str) -> int:
    """Return the host PID of the container's init (systemd), from LXD's state API."""
    result = subprocess.run(
        ["lxc", "query", f"/1.0/instances/{name}/state?project={project}"], capture_output=True, text=True, check=True
    )
    return int(json.loads(result.stdout)["pid"])


def nvidia_smi_report(processes_per_gpu: list[list[tuple[int, str, int]]]) -> str:
    """Build a driver-535-style report with the given (pid, type, MiB) processes on each GPU."""
    gpus = []
    for index, processes in enumerate(processes_per_gpu):
        used = sum(memory for _, _, memory in processes) + 5
        infos = "".join(
            "\t\t\t<process_info>\n"
            "\t\t\t\t<gpu_instance_id>N/A</gpu_instance_id>\n"
            "\t\t\t\t<compute_instance_id>N/A</compute_instance_id>\n"
            f"\t\t\t\t<pid>{pid}</pid>\n\t\t\t\t<type>{kind}</type>\n"
            "\t\t\t\t<process_name>sleep</process_name>\n"
            f"\t\t\t\t<used_memory>{memory} MiB</used_memory>\n"
            "\t\t\t</process_info>\n"
            for pid, kind, memory in processes
        )
        gpus.append(
            f'\t<gpu id="00000000:{0x41 + index:02X}:00.0">\n'
            "\t\t<product_name>NVIDIA A100-PCIE-40GB</product_name>\n"
            "\t\t<persistence_mode>Enabled</persistence_mode>\n"
            f"\t\t<uuid>GPU-lxdtest-{index}</uuid>\n\t\t<minor_number>{index}</minor_number>\n"
            f"\t\t<fb_memory_usage>\n\t\t\t<total>40960 MiB</total>\n\t\t\t<reserved>421 MiB</reserved>\n"
            f"\t\t\t<used>{used} MiB</used>\n\t\t\t<free>{40960 - 421 - used} MiB</free>\n\t\t</fb_memory_usage>\n"
            "\t\t<utilization>\n\t\t\t<gpu_util>12 %</gpu_util>\n\t\t\t<memory_util>3 %</memory_util>\n"
            "\t\t</utilization>\n"
            f"\t\t<processes>\n{infos}\t\t</processes>\n\t</gpu>\n"
        )
    return (
        '<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<nvidia_smi_log>\n'
        "\t<driver_version>535.183.01</driver_version>\n\t<cuda_version>12.2</cuda_version>\n"
        f"\t<attached_gpus>{len(gpus)}</attached_gpus>\n" + "".join(gpus) + "</nvidia_smi_log>\n"
    )


def test_real_container_processes_are_attributed(
    lxd_host,
    lxd_cleanup,
    second_lxd_host,
    second_cleanup,
    leftover_cgroup,
    settings,
    tmp_path,
    member,
    make_container,
    capsys,
):
    project, other_project = lxd_host.project, second_lxd_host.project
    first = lxd_cleanup.new_name("gpu")
    second = second_cleanup.new_name("gpu")
    clashed = lxd_cleanup.new_name("clash")

    start_container(lxd_host, first)
    start_container(second_lxd_host, second)
    leftover_cgroup(project, clashed)
    start_container(lxd_host, clashed)

    _, first_pid = start_sleep(lxd_host, first)
    _, second_pid = start_sleep(second_lxd_host, second)
    _, clashed_pid = start_sleep(lxd_host, clashed)
    host_sleep = subprocess.Popen(["sleep", str(90_000_000 + uuid.uuid4().int % 9_000_000)])
    first_monitor = monitor_pid(project, first)
    first_init = init_pid(project, first)
    try:
        assert first_monitor is not None
        watched = (first_pid, first_init, first_monitor, second_pid, clashed_pid)
        seen = {pid: Path(f"/proc/{pid}/cgroup").read_text() for pid in watched}
        with capsys.disabled():
            for pid, text in seen.items():
                print(f"\n/proc/{pid}/cgroup:\n{text}", end="")
        assert f"lxc.payload.{project}_{clashed}-1" in seen[clashed_pid]

        gpu_processes = [
            [(first_pid, "C", 4096), (first_init, "C", 16), (host_sleep.pid, "G", 300)],
            [(first_pid, "C", 1024), (second_pid, "C", 2048), (clashed_pid, "C+G", 512), (first_monitor, "C", 8)],
        ]
        report = nvidia_smi_report(gpu_processes)
        settings.NVIDIA_SMI_PATH = str(write_stand_in_nvidia_smi(tmp_path / "bin", stdout=report))
        settings.PROC_ROOT = "/proc"

        host = Host.objects.create(name="lxdtest", endpoint=LXD_SOCKET, project=project)
        managed = make_container(member, host, first)
        managed_clashed = make_container(member, host, clashed)

        collect_gpu_samples(host.pk)

        rows = {(row.pid, row.gpu.index): row for row in GpuProcess.objects.select_related("gpu")}
        assert (rows[(first_pid, 0)].kind, rows[(first_pid, 0)].project) == (OwnerKind.CONTAINER, project)
        assert rows[(first_pid, 0)].instance == first
        assert rows[(first_pid, 0)].container == managed
        assert rows[(first_pid, 1)].container == managed
        assert rows[(first_init, 0)].container == managed
        assert rows[(first_init, 0)].cgroup.endswith("/init.scope")
        assert (rows[(second_pid, 1)].project, rows[(second_pid, 1)].instance) == (other_project, second)
        assert rows[(second_pid, 1)].container is None
        assert rows[(clashed_pid, 1)].instance == clashed
        assert rows[(clashed_pid, 1)].container == managed_clashed
        assert rows[(clashed_pid, 1)].cgroup.startswith(f"/lxc.payload.{project}_{clashed}-1")
        assert (rows[(host_sleep.pid, 0)].kind, rows[(host_sleep.pid, 0)].unix_user) == (OwnerKind.HOST, "root")
        assert rows[(first_monitor, 1)].kind == OwnerKind.LXD_MONITOR

        output = io.StringIO()
        call_command("gpu_snapshot", "--json", stdout=output)
        snapshot = json.loads(output.getvalue())
        containers = {(item["project"], item["name"]): item for item in snapshot["containers"]}
        assert containers[(project, first)]["memory_mib"] == 4096 + 16 + 1024
        assert containers[(project, first)]["gpu_uuids"] == ["GPU-lxdtest-0", "GPU-lxdtest-1"]
        assert containers[(other_project, second)]["memory_mib"] == 2048
        assert containers[(project, clashed)]["memory_mib"] == 512
        kinds = {(item["pid"], item["gpu_uuid"]): item["kind"] for item in snapshot["processes"]}
        assert kinds[(host_sleep.pid, "GPU-lxdtest-0")] == "host"
    finally:
        host_sleep.kill()
        host_sleep.wait()
