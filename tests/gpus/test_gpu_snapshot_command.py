"""`manage.py gpu_snapshot`: attribution from a saved report and a proc tree, as a table or JSON."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.gpus.conftest import FIXTURES, hybrid, v2, write_proc_tree

RTX_XML = str(FIXTURES / "r470-rtx3090x4-minor-order.xml")


@pytest.fixture
def proc_root(tmp_path):
    return write_proc_tree(
        tmp_path / "proc",
        {
            2311: v2("/system.slice/display-manager.service"),
            48213: hybrid("/lxc.payload.zhangsan"),
            48377: v2("/lxc.payload.lab_wang-1/init.scope"),
            51002: v2("/lxc.monitor.zhangsan"),
            60440: v2("/../../user.slice"),
        },
        uids={2311: 0},
    )


def run_snapshot(*args) -> str:
    output = io.StringIO()
    call_command("gpu_snapshot", *args, stdout=output, stderr=io.StringIO())
    return output.getvalue()


def snapshot_json(proc_root, *extra) -> dict:
    return json.loads(run_snapshot("--json", "--nvidia-smi-xml", RTX_XML, "--proc-root", str(proc_root), *extra))


@pytest.mark.django_db
def test_json_lists_gpus_in_output_order(proc_root):
    data = snapshot_json(proc_root)

    assert [gpu["index"] for gpu in data["gpus"]] == [0, 1, 2, 3]
    first = data["gpus"][0]
    assert first["uuid"] == "GPU-3c1f0a9e-4b2d-11ec-9a7e-0242ac130003"
    assert first["name"] == "NVIDIA GeForce RTX 3090"
    assert (first["memory_used_mib"], first["memory_total_mib"], first["utilization_percent"]) == (17623, 24268, 97)


@pytest.mark.django_db
def test_json_processes_name_kind_container_and_project(proc_root):
    data = snapshot_json(proc_root)

    processes = {(p["pid"], p["gpu_uuid"][:12]): p for p in data["processes"]}
    zhangsan = processes[(48213, "GPU-3c1f0a9e")]
    assert (zhangsan["kind"], zhangsan["container"], zhangsan["project"]) == ("container", "zhangsan", "default")
    assert zhangsan["used_memory_mib"] == 10240
    assert (48213, "GPU-7d52e8b1") in processes
    assert processes[(48377, "GPU-3c1f0a9e")]["type"] == "C+G"
    assert processes[(48377, "GPU-3c1f0a9e")]["project"] == "lab"
    host = processes[(2311, "GPU-3c1f0a9e")]
    assert (host["kind"], host["container"], host["project"], host["user"]) == ("host", None, None, "root")
    assert processes[(51002, "GPU-3c1f0a9e")]["kind"] == "lxd-monitor"
    assert processes[(60440, "GPU-f18b2a47")]["kind"] == "unknown"


@pytest.mark.django_db
def test_json_sums_container_memory_over_gpus(proc_root):
    data = snapshot_json(proc_root)

    containers = {(c["project"], c["name"]): c for c in data["containers"]}
    assert containers[("default", "zhangsan")]["memory_mib"] == 10240 + 3072
    assert containers[("default", "zhangsan")]["gpu_uuids"] == [
        "GPU-3c1f0a9e-4b2d-11ec-9a7e-0242ac130003",
        "GPU-7d52e8b1-4b2d-11ec-9a7e-0242ac130003",
    ]
    assert data["unattributed_memory_mib"]["GPU-a0e4c6d3-4b2d-11ec-9a7e-0242ac130003"] == 0


@pytest.mark.django_db
def test_json_unknown_memory_is_null(tmp_path):
    proc = write_proc_tree(tmp_path / "proc", {9120: v2("/lxc.payload.a"), 9544: v2("/lxc.payload.b")})

    data = json.loads(
        run_snapshot("--json", "--nvidia-smi-xml", str(FIXTURES / "r570-h100-deprecated.xml"), "--proc-root", str(proc))
    )

    memory = {p["pid"]: p["used_memory_mib"] for p in data["processes"]}
    assert memory == {9120: 12288, 9544: None}
    assert data["unattributed_memory_mib"] == {"GPU-5a0d3e8c-91f2-4b67-8c3a-d2e9f1a07b45": None}


@pytest.mark.django_db
def test_mig_gpu_has_null_utilization(tmp_path):
    data = json.loads(
        run_snapshot("--json", "--nvidia-smi-xml", str(FIXTURES / "r535-a100x3-mig.xml"), "--proc-root", str(tmp_path))
    )

    assert data["gpus"][0]["utilization_percent"] is None
    assert data["gpus"][0]["memory_used_mib"] == 30771
    assert data["vanished_pids"] == [73120, 74002]


@pytest.mark.django_db
def test_table_shows_processes_and_containers(proc_root):
    output = run_snapshot("--nvidia-smi-xml", RTX_XML, "--proc-root", str(proc_root))

    assert "Driver 470.103.01" in output
    assert "zhangsan" in output
    assert "13312 MiB" in output
    assert "lxd-monitor" in output
    assert "Exited before /proc was read: 51002" not in output


@pytest.mark.django_db
def test_saved_report_mode_writes_nothing(proc_root):
    with CaptureQueriesContext(connection) as queries:
        snapshot_json(proc_root)

    assert not [query for query in queries.captured_queries if not query["sql"].lstrip().upper().startswith("SELECT")]


@pytest.mark.django_db
def test_unreadable_xml_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read --nvidia-smi-xml"):
        run_snapshot("--nvidia-smi-xml", str(tmp_path / "missing.xml"))


@pytest.mark.django_db
def test_failed_nvidia_smi_is_an_error(stand_in_nvidia_smi):
    stand_in_nvidia_smi(stdout="Failed to initialize NVML: Driver/library version mismatch\n", exit_code=18)

    with pytest.raises(CommandError, match="Driver/library version mismatch"):
        run_snapshot("--json")


@pytest.mark.django_db
def test_missing_proc_root_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="is not a directory"):
        run_snapshot("--nvidia-smi-xml", RTX_XML, "--proc-root", str(tmp_path / "nowhere"))


@pytest.mark.django_db
def test_unknown_host_is_an_error(proc_root):
    with pytest.raises(CommandError, match="No host named"):
        run_snapshot("--nvidia-smi-xml", RTX_XML, "--proc-root", str(proc_root), "--host", "nope")


@pytest.mark.django_db
def test_unreachable_lxd_keeps_cgroup_names(gpu_host, proc_root, tmp_path):
    gpu_host.endpoint = str(tmp_path / "no.socket")
    gpu_host.save()

    data = snapshot_json(proc_root, "--host", gpu_host.name)

    names = {c["name"] for c in data["containers"]}
    assert "wang-1" in names
