"""Read GPUs and their processes from `nvidia-smi -q -x`.

One call returns everything the portal needs: each GPU with its memory,
utilisation, temperature, power, persistence and MIG mode, and the processes
holding memory on it. The human table is never parsed, because its columns
change between driver releases.

The XML differs between driver generations, so every field is optional here:

- 418-era drivers (nvsmi_device_v10.dtd) have no MIG block, no
  `gpu_instance_id` in processes and `<power_readings>` for power.
- 450 to 535 (v11, v12) add `<mig_mode>`, `<mig_devices>` and instance ids in
  `<process_info>`; 535 renames `<power_readings>` to `<gpu_power_readings>`.
- 545 and later replace `<power_draw>` with `<instant_power_draw>` and
  `<average_power_draw>`, and print "Requested functionality has been
  deprecated" for some fields.
- Any value may be `N/A`, `[N/A]`, `[Not Supported]` or padded with spaces.

Values that are missing or not a number become None: nothing is invented.
"""

import logging
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from enum import Enum

logger = logging.getLogger(__name__)

# Text that nvidia-smi prints in place of a value it cannot read.
NOT_A_VALUE = {
    "",
    "n/a",
    "[n/a]",
    "not supported",
    "[not supported]",
    "unknown error",
    "[unknown error]",
    "insufficient permissions",
    "[insufficient permissions]",
    "requested functionality has been deprecated",
    "[requested functionality has been deprecated]",
    "none",
}

NUMBER_RE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)$")

# Maximum length of nvidia-smi's own output kept in an error message.
MAX_MESSAGE_CHARS = 300


class FailureKind(str, Enum):
    """Reason a call of nvidia-smi produced no data."""

    MISSING = "missing"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INVALID_OUTPUT = "invalid_output"


class NvidiaSmiError(Exception):
    """nvidia-smi could not be run or its output could not be read.

    `kind` is a FailureKind and `detail` is the program's own message,
    trimmed, for administrators. Neither contains a secret.
    """

    def __init__(self, kind: FailureKind, detail: str):
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass
class GpuProcess:
    pid: int
    type: str  # "C", "G" or "C+G"; empty when the driver does not say
    name: str
    used_memory_mib: int | None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


@dataclass
class MigDevice:
    index: int | None
    gpu_instance_id: int | None
    compute_instance_id: int | None
    memory_used_mib: int | None
    memory_total_mib: int | None


@dataclass
class GpuReading:
    """One GPU as nvidia-smi reported it in a single call."""

    index: int  # position in the output, which is nvidia-smi's own index (PCI bus order)
    uuid: str
    name: str
    pci_bus_id: str
    minor_number: int | None
    memory_used_mib: int | None
    memory_total_mib: int | None
    utilization_percent: int | None
    memory_utilization_percent: int | None
    temperature_c: int | None
    power_draw_w: float | None
    power_limit_w: float | None
    persistence_mode: str | None
    mig_enabled: bool
    mig_devices: list[MigDevice] = field(default_factory=list)
    processes: list[GpuProcess] = field(default_factory=list)


@dataclass
class NvidiaSmiReport:
    driver_version: str | None
    cuda_version: str | None
    attached_gpus: int | None
    gpus: list[GpuReading]
    # What nvidia-smi printed besides the report (a GPU it could not read), trimmed.
    messages: str = ""


def clean_text(value: str | None) -> str | None:
    """Strip padding and return None for the placeholders nvidia-smi prints."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() in NOT_A_VALUE:
        return None
    return text


def parse_number(value: str | None) -> float | None:
    """Parse "40 %", " 81920 MiB ", "67.03 W" or "45 C"; None for anything else."""
    text = clean_text(value)
    if text is None:
        return None
    match = NUMBER_RE.match(text)
    if not match:
        return None
    return float(match.group(1))


def parse_int(value: str | None) -> int | None:
    number = parse_number(value)
    return None if number is None else int(round(number))


def parse_memory_mib(value: str | None) -> int | None:
    """Parse a memory amount into MiB; the driver prints MiB, older tools sometimes GiB or KiB."""
    text = clean_text(value)
    if text is None:
        return None
    match = NUMBER_RE.match(text)
    if not match:
        return None
    number = float(match.group(1))
    unit = match.group(2).lower()
    factors = {"": 1, "mib": 1, "mb": 1, "gib": 1024, "gb": 1024, "kib": 1 / 1024, "kb": 1 / 1024}
    if unit not in factors:
        return None
    return int(round(number * factors[unit]))


def child_text(element: ElementTree.Element | None, path: str) -> str | None:
    """Return the cleaned text at `path` below `element`, searching direct children only."""
    if element is None:
        return None
    found = element.find(path)
    if found is None:
        return None
    return clean_text(found.text)


def parse_process(element: ElementTree.Element) -> GpuProcess | None:
    pid = parse_int(child_text(element, "pid"))
    if pid is None:
        return None
    return GpuProcess(
        pid=pid,
        type=(child_text(element, "type") or "").upper(),
        name=child_text(element, "process_name") or "",
        used_memory_mib=parse_memory_mib(child_text(element, "used_memory")),
        gpu_instance_id=parse_int(child_text(element, "gpu_instance_id")),
        compute_instance_id=parse_int(child_text(element, "compute_instance_id")),
    )


def parse_mig_devices(gpu: ElementTree.Element) -> list[MigDevice]:
    devices = []
    # Each <mig_device> carries its own <fb_memory_usage>, which reuses the
    # GPU-level tag names; reading only direct children keeps them apart.
    for element in gpu.findall("mig_devices/mig_device"):
        devices.append(
            MigDevice(
                index=parse_int(child_text(element, "index")),
                gpu_instance_id=parse_int(child_text(element, "gpu_instance_id")),
                compute_instance_id=parse_int(child_text(element, "compute_instance_id")),
                memory_used_mib=parse_memory_mib(child_text(element, "fb_memory_usage/used")),
                memory_total_mib=parse_memory_mib(child_text(element, "fb_memory_usage/total")),
            )
        )
    return devices


def parse_power(gpu: ElementTree.Element) -> tuple[float | None, float | None]:
    """Return (draw, limit) in watts from whichever power block this driver prints."""
    block = gpu.find("gpu_power_readings")
    if block is None:
        block = gpu.find("power_readings")
    if block is None:
        return None, None
    draw = None
    for tag in ("power_draw", "instant_power_draw", "average_power_draw"):
        draw = parse_number(child_text(block, tag))
        if draw is not None:
            break
    limit = None
    for tag in ("current_power_limit", "enforced_power_limit", "power_limit"):
        limit = parse_number(child_text(block, tag))
        if limit is not None:
            break
    return draw, limit


def parse_gpu(element: ElementTree.Element, index: int) -> GpuReading:
    uuid = child_text(element, "uuid")
    pci_bus_id = element.get("id", "").strip() or child_text(element, "pci/pci_bus_id") or ""
    if not uuid:
        raise NvidiaSmiError(FailureKind.INVALID_OUTPUT, f"GPU {pci_bus_id or index} has no UUID.")

    processes = []
    for process_element in element.findall("processes/process_info"):
        process = parse_process(process_element)
        if process is not None:
            processes.append(process)

    power_draw, power_limit = parse_power(element)
    return GpuReading(
        index=index,
        uuid=uuid,
        name=child_text(element, "product_name") or "",
        pci_bus_id=pci_bus_id,
        minor_number=parse_int(child_text(element, "minor_number")),
        memory_used_mib=parse_memory_mib(child_text(element, "fb_memory_usage/used")),
        memory_total_mib=parse_memory_mib(child_text(element, "fb_memory_usage/total")),
        utilization_percent=parse_int(child_text(element, "utilization/gpu_util")),
        memory_utilization_percent=parse_int(child_text(element, "utilization/memory_util")),
        temperature_c=parse_int(child_text(element, "temperature/gpu_temp")),
        power_draw_w=power_draw,
        power_limit_w=power_limit,
        persistence_mode=child_text(element, "persistence_mode"),
        mig_enabled=(child_text(element, "mig_mode/current_mig") or "").lower() == "enabled",
        mig_devices=parse_mig_devices(element),
        processes=processes,
    )


def parse_nvidia_smi_xml(text: str | bytes) -> NvidiaSmiReport:
    """Parse the output of `nvidia-smi -q -x`; raise NvidiaSmiError if it is not that."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # ElementTree does not fetch the DTD that the DOCTYPE names, so a DOCTYPE
    # (present in most drivers, absent in some saved outputs) needs no handling.
    try:
        root = ElementTree.fromstring(text.strip())
    except ElementTree.ParseError as error:
        raise NvidiaSmiError(FailureKind.INVALID_OUTPUT, f"Output is not XML ({error}): {trim(text)}") from None
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiError(FailureKind.INVALID_OUTPUT, f"Unexpected root element <{root.tag}>.")

    gpus = [parse_gpu(element, index) for index, element in enumerate(root.findall("gpu"))]
    return NvidiaSmiReport(
        driver_version=child_text(root, "driver_version"),
        cuda_version=child_text(root, "cuda_version"),
        attached_gpus=parse_int(child_text(root, "attached_gpus")),
        gpus=gpus,
    )


def trim(text: str) -> str:
    """Collapse whitespace and cut the text to MAX_MESSAGE_CHARS, for messages and logs."""
    collapsed = " ".join(text.split())
    if len(collapsed) > MAX_MESSAGE_CHARS:
        return collapsed[: MAX_MESSAGE_CHARS - 1] + "…"
    return collapsed


def run_nvidia_smi(path: str, timeout: float) -> NvidiaSmiReport:
    """Run `PATH -q -x` and parse its output.

    Raise NvidiaSmiError when the program is missing, times out, exits with
    an error and prints no usable XML (for example "Failed to initialize
    NVML: Driver/library version mismatch"), or prints something else than
    the XML report. An exit code other than 0 with a complete report (one
    GPU fell off the bus and the others were read) still returns the report,
    with the error lines in `messages`, and logs them.
    """
    try:
        completed = subprocess.run(
            [path, "-q", "-x"],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise NvidiaSmiError(FailureKind.MISSING, f"{path} not found.") from None
    except PermissionError:
        raise NvidiaSmiError(FailureKind.MISSING, f"{path} is not executable.") from None
    except subprocess.TimeoutExpired:
        raise NvidiaSmiError(FailureKind.TIMED_OUT, f"{path} did not finish within {timeout:g} s.") from None

    stdout = completed.stdout.decode("utf-8", errors="replace")
    stderr = completed.stderr.decode("utf-8", errors="replace")
    # nvidia-smi prints NVML errors on stdout, sometimes before the report.
    start = report_start(stdout)
    messages = trim(" ".join(part for part in (stderr, stdout[:start] if start >= 0 else stdout) if part.strip()))
    if start < 0:
        if completed.returncode != 0:
            raise NvidiaSmiError(FailureKind.FAILED, f"Exit code {completed.returncode}: {messages or 'no output'}")
        raise NvidiaSmiError(FailureKind.INVALID_OUTPUT, f"No XML report in the output: {messages or 'no output'}")
    if completed.returncode != 0 or messages:
        logger.warning(
            "nvidia-smi exited with %s and printed a report with messages: %s", completed.returncode, messages
        )
    report = parse_nvidia_smi_xml(stdout[start:])
    if completed.returncode != 0:
        messages = trim(f"Exit code {completed.returncode}: {messages}")
    report.messages = messages
    return report


def report_start(output: str) -> int:
    """Return the offset where the XML report begins in `output`, or -1."""
    for marker in ("<?xml", "<nvidia_smi_log"):
        offset = output.find(marker)
        if offset >= 0:
            return offset
    return -1
