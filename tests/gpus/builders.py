"""Builders of GPU data in the database, for page, roll-up and query-count tests."""

from datetime import datetime, timedelta

from django.utils import timezone

from containers.models import Host
from gpus.models import ContainerGpuSample, Gpu, GpuHostStatus, GpuProcess, GpuSample, HostSample, OwnerKind
from gpus.rollups import roll_up_and_prune


def make_gpus(host: Host, count: int, now: datetime, memory_used: int = 2048, utilization: int = 50) -> list[Gpu]:
    GpuHostStatus.objects.update_or_create(
        host=host,
        defaults={
            "last_attempt_at": now,
            "last_success_at": now,
            "driver_version": "535.54.03",
            "cuda_version": "12.2",
            "attached_gpus": count,
        },
    )
    return [
        Gpu.objects.create(
            host=host,
            uuid=f"GPU-{host.name}-{index:04d}",
            index=index,
            minor_number=index,
            name="NVIDIA A100-SXM4-80GB",
            persistence_mode="Enabled",
            first_seen_at=now - timedelta(days=30),
            last_seen_at=now,
            memory_used_mib=memory_used,
            memory_total_mib=81920,
            utilization_percent=utilization,
            temperature_c=40,
            power_draw_w=120.5,
            power_limit_w=400.0,
            unattributed_memory_mib=0,
        )
        for index in range(count)
    ]


def hold_memory(gpu: Gpu, container, memory: int, pid: int, instance: str = "", project: str = "default") -> GpuProcess:
    """Add a current process of `container` (or of an unmanaged instance) holding memory on `gpu`."""
    return GpuProcess.objects.create(
        host=gpu.host,
        gpu=gpu,
        pid=pid,
        type="C",
        process_name="python",
        used_memory_mib=memory,
        kind=OwnerKind.CONTAINER,
        project=project,
        instance=container.name if container else instance,
        container=container,
        cgroup=f"/lxc.payload.{container.name if container else instance}",
    )


def add_history(
    gpus: list[Gpu],
    holders: list[tuple[Gpu, object, int]],
    start: datetime,
    end: datetime,
    step: timedelta,
    utilization: int = 50,
) -> None:
    """Write raw samples every `step` from `start` to `end`: each GPU, and each (gpu, container, memory) holder."""
    gpu_samples, container_samples, host_samples = [], [], []
    seconds = int(step.total_seconds())
    moment = start
    hosts = {gpu.host_id for gpu in gpus}
    while moment < end:
        for host_id in hosts:
            host_samples.append(HostSample(host_id=host_id, taken_at=moment, ok=True, gpu_count=len(gpus)))
        for gpu in gpus:
            gpu_samples.append(
                GpuSample(
                    gpu=gpu,
                    taken_at=moment,
                    seconds=seconds,
                    memory_used_mib=gpu.memory_used_mib,
                    memory_total_mib=gpu.memory_total_mib,
                    utilization_percent=utilization,
                    temperature_c=40,
                    power_draw_w=100.0,
                )
            )
        for gpu, container, memory in holders:
            container_samples.append(
                ContainerGpuSample(
                    gpu=gpu,
                    taken_at=moment,
                    seconds=seconds,
                    container=container,
                    project="default",
                    instance=container.name,
                    memory_mib=memory,
                    process_count=1,
                )
            )
        moment += step
    HostSample.objects.bulk_create(host_samples, batch_size=5000)
    GpuSample.objects.bulk_create(gpu_samples, batch_size=5000)
    ContainerGpuSample.objects.bulk_create(container_samples, batch_size=5000)


def populate(hosts: list[Host], gpus_per_host: int, containers: list, hours: int, now: datetime | None = None):
    """Build a lab: GPUs on each host, each container holding memory on one GPU, `hours` of history rolled up."""
    now = now or timezone.now()
    gpus = [gpu for host in hosts for gpu in make_gpus(host, gpus_per_host, now)]
    holders = []
    for number, container in enumerate(containers):
        gpu = gpus[number % len(gpus)]
        hold_memory(gpu, container, 1024, pid=10000 + number)
        holders.append((gpu, container, 1024))
    add_history(gpus, holders, now - timedelta(hours=hours), now, timedelta(minutes=5))
    roll_up_and_prune(now)
    return gpus
