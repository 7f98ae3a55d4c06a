"""Attribute the processes of one nvidia-smi report to containers and the host.

Pure functions over a parsed report and a proc tree: no database, so the
collection task and `manage.py gpu_snapshot` share them.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from hostops.cgroups import OwnerKind, ProcessOwner, read_process_owner
from hostops.nvidia import GpuProcess, GpuReading, NvidiaSmiReport


@dataclass
class AttributedProcess:
    gpu: GpuReading
    process: GpuProcess
    owner: ProcessOwner


@dataclass
class ContainerUse:
    """All GPU memory one LXD instance holds, over all its processes and GPUs."""

    project: str
    name: str
    memory_mib: int = 0
    gpu_uuids: list[str] = field(default_factory=list)
    # Memory per GPU uuid; processes whose memory the driver does not report add 0.
    memory_by_gpu: dict[str, int] = field(default_factory=dict)
    processes_by_gpu: dict[str, int] = field(default_factory=dict)
    process_count: int = 0


@dataclass
class Snapshot:
    report: NvidiaSmiReport
    processes: list[AttributedProcess]
    containers: list[ContainerUse]
    # Per GPU uuid: memory in use that no listed process explains, in MiB;
    # None when a listed process has unknown memory or the GPU total is unknown.
    unattributed_memory_mib: dict[str, int | None]
    # PIDs that nvidia-smi listed but that exited before /proc was read.
    vanished_pids: list[int]


def unattributed_memory(gpu: GpuReading) -> int | None:
    """Return the GPU's used memory minus what its listed processes hold, never below 0."""
    if gpu.memory_used_mib is None:
        return None
    if any(process.used_memory_mib is None for process in gpu.processes):
        return None
    explained = sum(process.used_memory_mib or 0 for process in gpu.processes)
    return max(0, gpu.memory_used_mib - explained)


def attribute(
    report: NvidiaSmiReport,
    proc_root: str | Path,
    instances: Collection[tuple[str, str]] | None,
) -> Snapshot:
    """Read the owner of every GPU process and sum memory per container.

    A PID listed on two GPUs is read once and keeps one row per GPU; its
    container's total adds both. `instances` is the host's (project, name)
    list from LXD, used to undo LXC's clash suffixes; None means unknown.
    """
    owners: dict[int, ProcessOwner | None] = {}
    processes: list[AttributedProcess] = []
    vanished: list[int] = []
    containers: dict[tuple[str, str], ContainerUse] = {}

    for gpu in report.gpus:
        for process in gpu.processes:
            if process.pid not in owners:
                owners[process.pid] = read_process_owner(process.pid, proc_root, instances)
                if owners[process.pid] is None:
                    vanished.append(process.pid)
            owner = owners[process.pid]
            if owner is None:
                continue
            processes.append(AttributedProcess(gpu=gpu, process=process, owner=owner))

            if owner.kind != OwnerKind.CONTAINER:
                continue
            key = (owner.project or "", owner.instance or "")
            use = containers.setdefault(key, ContainerUse(project=key[0], name=key[1]))
            memory = process.used_memory_mib or 0
            use.memory_mib += memory
            use.process_count += 1
            use.memory_by_gpu[gpu.uuid] = use.memory_by_gpu.get(gpu.uuid, 0) + memory
            use.processes_by_gpu[gpu.uuid] = use.processes_by_gpu.get(gpu.uuid, 0) + 1
            if gpu.uuid not in use.gpu_uuids:
                use.gpu_uuids.append(gpu.uuid)

    return Snapshot(
        report=report,
        processes=processes,
        containers=sorted(containers.values(), key=lambda use: (use.project, use.name)),
        unattributed_memory_mib={gpu.uuid: unattributed_memory(gpu) for gpu in report.gpus},
        vanished_pids=vanished,
    )


def snapshot_as_json(snapshot: Snapshot) -> dict:
    """Return the snapshot in the JSON shape that `manage.py gpu_snapshot --json` prints."""
    report = snapshot.report
    return {
        "driver_version": report.driver_version,
        "cuda_version": report.cuda_version,
        "attached_gpus": report.attached_gpus,
        "gpus": [
            {
                "index": gpu.index,
                "minor_number": gpu.minor_number,
                "uuid": gpu.uuid,
                "name": gpu.name,
                "pci_bus_id": gpu.pci_bus_id,
                "memory_used_mib": gpu.memory_used_mib,
                "memory_total_mib": gpu.memory_total_mib,
                "utilization_percent": gpu.utilization_percent,
                "temperature_c": gpu.temperature_c,
                "power_draw_w": gpu.power_draw_w,
                "persistence_mode": gpu.persistence_mode,
                "mig_enabled": gpu.mig_enabled,
            }
            for gpu in report.gpus
        ],
        "processes": [
            {
                "pid": item.process.pid,
                "gpu_uuid": item.gpu.uuid,
                "gpu_index": item.gpu.index,
                "used_memory_mib": item.process.used_memory_mib,
                "type": item.process.type,
                "process_name": item.process.name,
                "kind": item.owner.kind.value,
                "container": item.owner.instance if item.owner.kind == OwnerKind.CONTAINER else None,
                "project": item.owner.project if item.owner.kind == OwnerKind.CONTAINER else None,
                "user": item.owner.user,
                "cgroup": item.owner.cgroup,
            }
            for item in snapshot.processes
        ],
        "containers": [
            {
                "name": use.name,
                "project": use.project,
                "memory_mib": use.memory_mib,
                "gpu_uuids": use.gpu_uuids,
                "process_count": use.process_count,
            }
            for use in snapshot.containers
        ],
        "unattributed_memory_mib": snapshot.unattributed_memory_mib,
        "vanished_pids": snapshot.vanished_pids,
    }
