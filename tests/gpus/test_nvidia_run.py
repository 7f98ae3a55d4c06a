"""Running nvidia-smi: a stand-in program prints recorded output, errors and hangs."""

import pytest

from hostops.nvidia import FailureKind, NvidiaSmiError, run_nvidia_smi
from tests.gpus.conftest import fixture_text, write_stand_in_nvidia_smi


def test_report_is_parsed_from_program_output(tmp_path):
    script = write_stand_in_nvidia_smi(tmp_path, stdout=fixture_text("r470-rtx3090x4-minor-order.xml"))

    report = run_nvidia_smi(str(script), timeout=10)

    assert len(report.gpus) == 4
    assert report.messages == ""


def test_missing_program_is_reported_as_missing(tmp_path):
    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(tmp_path / "no-such-nvidia-smi"), timeout=10)

    assert caught.value.kind == FailureKind.MISSING
    assert "no-such-nvidia-smi" in caught.value.detail


def test_not_executable_program_is_reported_as_missing(tmp_path):
    path = tmp_path / "nvidia-smi"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o644)

    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(path), timeout=10)

    assert caught.value.kind == FailureKind.MISSING


@pytest.mark.parametrize(
    ("fixture", "exit_code", "expected"),
    [
        ("error-version-mismatch.txt", 18, "Driver/library version mismatch"),
        ("error-version-mismatch-library.txt", 18, "NVML library version: 535.183"),
        ("error-insufficient-permissions.txt", 4, "Insufficient Permissions"),
    ],
)
def test_nvml_errors_on_stdout_fail_with_message(tmp_path, fixture, exit_code, expected):
    script = write_stand_in_nvidia_smi(tmp_path, stdout=fixture_text(fixture), exit_code=exit_code)

    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(script), timeout=10)

    assert caught.value.kind == FailureKind.FAILED
    assert expected in caught.value.detail
    assert f"Exit code {exit_code}" in caught.value.detail


def test_error_on_stderr_is_kept(tmp_path):
    script = write_stand_in_nvidia_smi(
        tmp_path, stderr="NVIDIA-SMI has failed because it couldn't communicate\n", exit_code=9
    )

    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(script), timeout=10)

    assert "couldn't communicate" in caught.value.detail


def test_hanging_program_times_out(tmp_path):
    script = write_stand_in_nvidia_smi(tmp_path, sleep_seconds=60)

    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(script), timeout=1)

    assert caught.value.kind == FailureKind.TIMED_OUT
    assert "1 s" in caught.value.detail


def test_exit_zero_without_report_is_invalid_output(tmp_path):
    script = write_stand_in_nvidia_smi(tmp_path, stdout="No devices were found\n")

    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(script), timeout=10)

    assert caught.value.kind == FailureKind.INVALID_OUTPUT
    assert "No devices were found" in caught.value.detail


def test_report_after_device_error_is_kept_with_message(tmp_path):
    output = fixture_text("error-gpu-lost-handle.txt") + fixture_text("r470-rtx3090x3-one-lost.xml")
    script = write_stand_in_nvidia_smi(tmp_path, stdout=output, exit_code=15)

    report = run_nvidia_smi(str(script), timeout=10)

    assert len(report.gpus) == 3
    assert "Exit code 15" in report.messages
    assert "Unable to determine the device handle" in report.messages


def test_long_error_output_is_trimmed(tmp_path):
    script = write_stand_in_nvidia_smi(tmp_path, stdout="x" * 5000, exit_code=255)

    with pytest.raises(NvidiaSmiError) as caught:
        run_nvidia_smi(str(script), timeout=10)

    assert len(caught.value.detail) < 400
