"""Parsing of recorded `nvidia-smi -q -x` output from driver 418 to 570."""

import pytest

from hostops.nvidia import (
    FailureKind,
    NvidiaSmiError,
    clean_text,
    parse_memory_mib,
    parse_number,
    parse_nvidia_smi_xml,
)
from tests.gpus.conftest import fixture_text


@pytest.mark.parametrize(
    "text",
    ["N/A", "[N/A]", " N/A ", "[Not Supported]", "Requested functionality has been deprecated", "", "   "],
)
def test_placeholders_become_none(text):
    assert clean_text(text) is None
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [(" 40 % ", 40.0), ("81920 MiB", 81920.0), ("67.03 W", 67.03), ("45 C", 45.0), ("\n\t\t 7 %\n", 7.0)],
)
def test_padded_values_are_read(text, expected):
    assert parse_number(text) == expected


def test_memory_units_convert_to_mib():
    assert parse_memory_mib("2 GiB") == 2048
    assert parse_memory_mib("1234 MiB") == 1234
    assert parse_memory_mib("12 parsecs") is None


def test_r418_without_doctype_reads_padded_values():
    report = parse_nvidia_smi_xml(fixture_text("r418-gtx1080ti-no-doctype.xml"))

    assert report.driver_version == "418.56"
    assert report.cuda_version == "10.1"
    assert report.attached_gpus == 2
    first, second = report.gpus
    assert first.uuid == "GPU-6a3b1d2e-90aa-4c41-8f0e-1b2c3d4e5f60"
    assert first.name == "GeForce GTX 1080 Ti"
    assert first.memory_used_mib == 9243
    assert first.memory_total_mib == 11178
    assert first.utilization_percent == 40
    assert first.temperature_c == 61
    assert first.power_draw_w == pytest.approx(142.17)
    assert first.power_limit_w == pytest.approx(250.0)
    assert first.persistence_mode == "Disabled"
    assert first.mig_enabled is False
    assert [(p.pid, p.type, p.used_memory_mib) for p in first.processes] == [
        (1327, "G", 37),
        (24518, "C", 8105),
        (24611, "C", 1091),
    ]
    # The 418 DTD has no instance ids in <process_info>.
    assert first.processes[0].gpu_instance_id is None
    assert second.processes == []


def test_r470_keeps_output_order_when_minor_numbers_differ():
    report = parse_nvidia_smi_xml(fixture_text("r470-rtx3090x4-minor-order.xml"))

    assert [gpu.index for gpu in report.gpus] == [0, 1, 2, 3]
    assert [gpu.minor_number for gpu in report.gpus] == [2, 0, 3, 1]
    assert [gpu.pci_bus_id for gpu in report.gpus] == [
        "00000000:1A:00.0",
        "00000000:1B:00.0",
        "00000000:3D:00.0",
        "00000000:3E:00.0",
    ]


def test_r470_process_types_g_c_cg():
    report = parse_nvidia_smi_xml(fixture_text("r470-rtx3090x4-minor-order.xml"))

    types = {process.pid: process.type for process in report.gpus[0].processes}
    assert types == {2311: "G", 48213: "C", 48377: "C+G", 51002: "C"}


def test_r470_lists_one_pid_on_two_gpus_twice():
    report = parse_nvidia_smi_xml(fixture_text("r470-rtx3090x4-minor-order.xml"))

    rows = [(gpu.index, p.used_memory_mib) for gpu in report.gpus for p in gpu.processes if p.pid == 48213]
    assert rows == [(0, 10240), (1, 3072)]


def test_r470_bracketed_na_power_is_none():
    report = parse_nvidia_smi_xml(fixture_text("r470-rtx3090x4-minor-order.xml"))

    assert report.gpus[1].power_draw_w is None
    assert report.gpus[1].power_limit_w == pytest.approx(350.0)


def test_r470_empty_processes_element_gives_no_processes():
    report = parse_nvidia_smi_xml(fixture_text("r470-rtx3090x4-minor-order.xml"))

    assert report.gpus[2].processes == []
    assert report.gpus[2].memory_used_mib == 0


def test_r535_mig_keeps_gpu_memory():
    report = parse_nvidia_smi_xml(fixture_text("r535-a100x3-mig.xml"))
    mig_gpu = report.gpus[0]

    assert mig_gpu.mig_enabled is True
    # The GPU-level block, not the first <mig_device>'s block of the same tag names.
    assert mig_gpu.memory_used_mib == 30771
    assert mig_gpu.memory_total_mib == 81920
    assert [(m.gpu_instance_id, m.memory_used_mib, m.memory_total_mib) for m in mig_gpu.mig_devices] == [
        (1, 30720, 40192),
        (5, 13, 9856),
        (6, 13, 9856),
    ]
    assert mig_gpu.utilization_percent is None
    assert mig_gpu.processes[0].gpu_instance_id == 1
    assert mig_gpu.processes[0].compute_instance_id == 0


def test_r535_self_closing_processes_and_gpu_power_readings():
    report = parse_nvidia_smi_xml(fixture_text("r535-a100x3-mig.xml"))
    idle = report.gpus[2]

    assert idle.processes == []
    assert idle.power_draw_w == pytest.approx(61.8)
    assert idle.power_limit_w == pytest.approx(400.0)
    assert report.gpus[1].mig_enabled is False


def test_r570_reads_instant_power_and_unknown_process_memory():
    report = parse_nvidia_smi_xml(fixture_text("r570-h100-deprecated.xml"))
    gpu = report.gpus[0]

    assert report.driver_version == "570.124.06"
    assert gpu.power_draw_w == pytest.approx(141.57)
    assert [(p.pid, p.used_memory_mib) for p in gpu.processes] == [(9120, 12288), (9544, None)]


def test_deprecated_text_in_read_field_is_none():
    xml = """<?xml version="1.0" ?>
<nvidia_smi_log><driver_version>575.51.03</driver_version>
<gpu id="00000000:01:00.0"><uuid>GPU-1</uuid>
<persistence_mode>Requested functionality has been deprecated</persistence_mode>
<gpu_power_readings><power_state>Requested functionality has been deprecated</power_state>
<instant_power_draw>Requested functionality has been deprecated</instant_power_draw>
<average_power_draw> 88.20 W </average_power_draw></gpu_power_readings>
<utilization><gpu_util>[N/A]</gpu_util></utilization></gpu></nvidia_smi_log>"""
    gpu = parse_nvidia_smi_xml(xml).gpus[0]

    assert gpu.persistence_mode is None
    assert gpu.power_draw_w == pytest.approx(88.2)
    assert gpu.utilization_percent is None
    assert gpu.memory_used_mib is None


def test_report_without_gpus_is_empty():
    report = parse_nvidia_smi_xml("<nvidia_smi_log><driver_version>418.39</driver_version></nvidia_smi_log>")

    assert report.gpus == []
    assert report.driver_version == "418.39"


def test_gpu_without_uuid_is_invalid_output():
    with pytest.raises(NvidiaSmiError) as caught:
        parse_nvidia_smi_xml('<nvidia_smi_log><gpu id="00000000:01:00.0"><uuid>N/A</uuid></gpu></nvidia_smi_log>')

    assert caught.value.kind == FailureKind.INVALID_OUTPUT
    assert "00000000:01:00.0" in caught.value.detail


@pytest.mark.parametrize(
    "text",
    ["Failed to initialize NVML: Driver/library version mismatch", "<nvidia_smi_log><gpu>", "<html></html>"],
)
def test_non_report_text_is_invalid_output(text):
    with pytest.raises(NvidiaSmiError) as caught:
        parse_nvidia_smi_xml(text)

    assert caught.value.kind == FailureKind.INVALID_OUTPUT


def test_process_without_pid_is_skipped():
    xml = """<nvidia_smi_log><gpu id="x"><uuid>GPU-1</uuid><processes>
<process_info><pid>N/A</pid><type>C</type><used_memory>5 MiB</used_memory></process_info>
<process_info><pid>77</pid><type>c</type><used_memory>6 MiB</used_memory></process_info>
</processes></gpu></nvidia_smi_log>"""
    processes = parse_nvidia_smi_xml(xml).gpus[0].processes

    assert [(p.pid, p.type) for p in processes] == [(77, "C")]
