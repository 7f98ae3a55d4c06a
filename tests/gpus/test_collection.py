"""The collection task: a stand-in nvidia-smi and a proc tree in, samples and health out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gpus.models import ContainerGpuSample, Gpu, GpuHostStatus, GpuProcess, GpuSample, HostSample, OwnerKind
from gpus.tasks import collect_gpu_samples
from tests.gpus.conftest import fixture_text, hybrid, v2, write_proc_tree

pytestmark = pytest.mark.django_db

# PIDs of r470-rtx3090x4-minor-order.xml and where the proc tree puts them.
RTX_PROC = {
    2311: v2("/system.slice/display-manager.service"),  # Xorg of the host
    48213: hybrid("/lxc.payload.zhangsan/user.slice"),  # on GPU 0 and GPU 1
    48377: v2("/lxc.payload.lab_wang/init.scope"),  # C+G, another project
    60440: v2("/lxc.monitor.zhangsan"),
    # 51002 is missing: it exited between nvidia-smi and the /proc read.
}


@pytest.fixture
def rtx_host(gpu_host, settings, tmp_path, stand_in_nvidia_smi):
    """A host whose stand-in nvidia-smi prints the four-GPU RTX 3090 report."""
    gpu_host.endpoint = str(tmp_path / "no-lxd.socket")
    gpu_host.save()
    settings.PROC_ROOT = str(write_proc_tree(tmp_path / "proc", RTX_PROC, uids={2311: 0}))
    stand_in_nvidia_smi(stdout=fixture_text("r470-rtx3090x4-minor-order.xml"))
    return gpu_host


def test_collection_creates_gpus_in_output_order(rtx_host):
    collect_gpu_samples(rtx_host.pk)

    gpus = list(Gpu.objects.filter(host=rtx_host).order_by("index"))
    assert [gpu.minor_number for gpu in gpus] == [2, 0, 3, 1]
    assert gpus[0].uuid == "GPU-3c1f0a9e-4b2d-11ec-9a7e-0242ac130003"
    assert (gpus[0].memory_used_mib, gpus[0].memory_total_mib, gpus[0].utilization_percent) == (17623, 24268, 97)
    assert gpus[1].power_draw_w is None
    assert gpus[3].persistence_mode == "Disabled"


def test_collection_attributes_processes(rtx_host, member, make_container):
    managed = make_container(member, rtx_host, "zhangsan")

    collect_gpu_samples(rtx_host.pk)

    rows = {(p.pid, p.gpu.index): p for p in GpuProcess.objects.select_related("gpu")}
    assert set(rows) == {(2311, 0), (48213, 0), (48213, 1), (48377, 0), (60440, 3)}
    assert rows[(48213, 0)].container == managed
    assert rows[(48213, 1)].container == managed
    assert (rows[(48377, 0)].kind, rows[(48377, 0)].project, rows[(48377, 0)].instance) == ("container", "lab", "wang")
    assert rows[(48377, 0)].container is None
    assert rows[(48377, 0)].type == "C+G"
    assert (rows[(2311, 0)].kind, rows[(2311, 0)].unix_user) == (OwnerKind.HOST, "root")
    assert rows[(60440, 3)].kind == OwnerKind.LXD_MONITOR


def test_collection_stores_container_memory_per_gpu(rtx_host, member, make_container):
    managed = make_container(member, rtx_host, "zhangsan")

    collect_gpu_samples(rtx_host.pk)

    samples = {(s.instance, s.gpu.index): s for s in ContainerGpuSample.objects.select_related("gpu")}
    assert set(samples) == {("zhangsan", 0), ("zhangsan", 1), ("wang", 0)}
    assert samples[("zhangsan", 0)].memory_mib == 10240
    assert samples[("zhangsan", 1)].memory_mib == 3072
    assert samples[("zhangsan", 0)].container == managed
    assert samples[("wang", 0)].project == "lab"
    assert samples[("wang", 0)].container is None
    assert GpuSample.objects.count() == 4


def test_collection_computes_unattributed_memory(rtx_host):
    collect_gpu_samples(rtx_host.pk)

    unattributed = dict(Gpu.objects.values_list("index", "unattributed_memory_mib"))
    # GPU 0: 17623 - (4 + 10240 + 5120 + 2048); the exited PID 51002 is still a listed process.
    assert unattributed == {0: 211, 1: 7, 2: 0, 3: 2054}


def test_collection_records_success_and_lxd_fallback(rtx_host):
    collect_gpu_samples(rtx_host.pk)

    status = GpuHostStatus.objects.get(host=rtx_host)
    assert status.failure_kind == ""
    assert status.driver_version == "470.103.01"
    assert status.attached_gpus == 4
    assert status.last_success_at == status.last_attempt_at
    assert "does not exist" in status.instance_list_error
    assert status.warning == ""
    sample = HostSample.objects.get(host=rtx_host)
    assert (sample.ok, sample.gpu_count, sample.process_count) == (True, 4, 5)


@pytest.mark.parametrize(
    ("kwargs", "kind", "text"),
    [
        ({"stdout": fixture_text("error-version-mismatch.txt"), "exit_code": 18}, "failed", "version mismatch"),
        ({"stdout": fixture_text("error-insufficient-permissions.txt"), "exit_code": 4}, "failed", "Insufficient"),
        ({"sleep_seconds": 30}, "timed_out", "did not finish"),
    ],
)
def test_failure_keeps_last_good_data(rtx_host, stand_in_nvidia_smi, settings, kwargs, kind, text):
    collect_gpu_samples(rtx_host.pk)
    first_success = GpuHostStatus.objects.get(host=rtx_host).last_success_at
    settings.NVIDIA_SMI_TIMEOUT = 1
    stand_in_nvidia_smi(**kwargs)

    collect_gpu_samples(rtx_host.pk)

    status = GpuHostStatus.objects.get(host=rtx_host)
    assert status.failure_kind == kind
    assert text in status.failure_detail
    assert status.last_success_at == first_success
    assert status.consecutive_failures == 1
    assert Gpu.objects.get(host=rtx_host, index=0).memory_used_mib == 17623
    assert GpuProcess.objects.filter(host=rtx_host).count() == 5
    assert list(HostSample.objects.order_by("taken_at").values_list("ok", flat=True)) == [True, False]
    assert GpuSample.objects.count() == 4


def test_missing_program_is_recorded(gpu_host, settings, tmp_path):
    settings.NVIDIA_SMI_PATH = str(tmp_path / "nvidia-smi")

    collect_gpu_samples(gpu_host.pk)

    status = GpuHostStatus.objects.get(host=gpu_host)
    assert status.failure_kind == "missing"
    assert status.last_success_at is None
    assert not Gpu.objects.exists()


def test_lost_gpu_is_marked_not_dropped(rtx_host, stand_in_nvidia_smi):
    collect_gpu_samples(rtx_host.pk)
    stand_in_nvidia_smi(stdout=fixture_text("r470-rtx3090x3-one-lost.xml"))

    collect_gpu_samples(rtx_host.pk)

    lost = Gpu.objects.get(uuid="GPU-a0e4c6d3-4b2d-11ec-9a7e-0242ac130003")
    assert lost.lost_at is not None
    assert Gpu.objects.filter(host=rtx_host).count() == 4
    assert list(Gpu.objects.filter(lost_at__isnull=True).order_by("index").values_list("index", flat=True)) == [0, 1, 2]


def test_returning_gpu_is_no_longer_lost(rtx_host, stand_in_nvidia_smi):
    stand_in_nvidia_smi(stdout=fixture_text("r470-rtx3090x3-one-lost.xml"))
    collect_gpu_samples(rtx_host.pk)
    stand_in_nvidia_smi(stdout=fixture_text("r470-rtx3090x4-minor-order.xml"))
    collect_gpu_samples(rtx_host.pk)
    Gpu.objects.filter(index=2).update(lost_at=timezone.now())

    collect_gpu_samples(rtx_host.pk)

    assert not Gpu.objects.filter(lost_at__isnull=False).exists()


def test_report_with_error_lines_is_stored_with_warning(rtx_host, stand_in_nvidia_smi):
    output = fixture_text("error-gpu-lost-handle.txt") + fixture_text("r470-rtx3090x3-one-lost.xml")
    stand_in_nvidia_smi(stdout=output, exit_code=15)

    collect_gpu_samples(rtx_host.pk)

    status = GpuHostStatus.objects.get(host=rtx_host)
    assert status.failure_kind == ""
    assert "Unable to determine the device handle" in status.warning
    assert Gpu.objects.count() == 3


def test_sample_span_follows_gap_and_is_capped(rtx_host, settings):
    settings.GPU_SAMPLE_INTERVAL = 30
    collect_gpu_samples(rtx_host.pk)
    GpuHostStatus.objects.update(last_attempt_at=timezone.now() - timedelta(seconds=12))
    collect_gpu_samples(rtx_host.pk)
    GpuHostStatus.objects.update(last_attempt_at=timezone.now() - timedelta(hours=3))
    collect_gpu_samples(rtx_host.pk)

    spans = list(GpuSample.objects.filter(gpu__index=0).order_by("taken_at").values_list("seconds", flat=True))
    assert spans[0] == 30
    assert spans[1] in (12, 13)
    assert spans[2] == 60


def test_mig_gpu_stores_no_utilization(gpu_host, stand_in_nvidia_smi, settings, tmp_path):
    settings.PROC_ROOT = str(write_proc_tree(tmp_path / "proc", {73120: v2("/lxc.payload.li")}))
    stand_in_nvidia_smi(stdout=fixture_text("r535-a100x3-mig.xml"))

    collect_gpu_samples(gpu_host.pk)

    mig = Gpu.objects.get(index=0)
    assert mig.mig_enabled is True
    assert mig.utilization_percent is None
    assert mig.memory_used_mib == 30771
    totals = dict(ContainerGpuSample.objects.values_list("gpu__index", "memory_mib"))
    assert totals == {0: 30720, 1: 25600}


def test_inactive_host_is_skipped(gpu_host, stand_in_nvidia_smi):
    stand_in_nvidia_smi(stdout=fixture_text("r418-gtx1080ti-no-doctype.xml"))
    gpu_host.collects_gpu = False
    gpu_host.save()

    collect_gpu_samples(gpu_host.pk)
    collect_gpu_samples(987654)

    assert not HostSample.objects.exists()
