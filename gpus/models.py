"""GPUs, their samples and hourly roll-ups, and the state of each host's collection.

Raw samples (`HostSample`, `GpuSample`, `ContainerGpuSample`) are written
every GPU_SAMPLE_INTERVAL seconds and kept GPU_RAW_RETENTION_DAYS. The
roll-up task folds each complete hour into `GpuHourlyRollup` and
`ContainerGpuHourlyRollup` (kept GPU_ROLLUP_RETENTION_DAYS) and records in
`RollupWatermark` up to where it got: queries read roll-ups before the
watermark and raw samples from it on, so nothing is counted twice.

`Gpu` and `GpuProcess` hold the latest reading, so the overview page reads
no history at all.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from containers.models import Container, Host


class FailureKind(models.TextChoices):
    MISSING = "missing", _("nvidia-smi not found")
    FAILED = "failed", _("nvidia-smi failed")
    TIMED_OUT = "timed_out", _("nvidia-smi timed out")
    INVALID_OUTPUT = "invalid_output", _("unreadable nvidia-smi output")


class OwnerKind(models.TextChoices):
    CONTAINER = "container", _("Container")
    HOST = "host", _("Host process")
    LXD_MONITOR = "lxd-monitor", _("LXD monitor")
    UNKNOWN = "unknown", _("Unknown")


class GpuHostStatus(models.Model):
    """Outcome of a host's latest GPU collection attempts.

    A host is failing when its last attempt failed, and stale when its last
    successful sample is older than GPU_STALE_SECONDS (for example because
    no worker consumes its queue).
    """

    host = models.OneToOneField(Host, verbose_name=_("host"), on_delete=models.CASCADE, related_name="gpu_status")
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful sample"), null=True, blank=True)
    failure_kind = models.CharField(_("failure"), max_length=20, choices=FailureKind.choices, blank=True)
    failure_detail = models.TextField(_("failure detail"), blank=True)
    # Messages nvidia-smi printed beside a usable report; the sample itself was stored.
    warning = models.TextField(_("warning"), blank=True)
    # Why LXD's instance list was unavailable at the last sample, so that
    # cgroup names were taken as they are (a `-1` clash suffix stays).
    instance_list_error = models.TextField(_("instance list error"), blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    driver_version = models.CharField(_("driver version"), max_length=40, blank=True)
    cuda_version = models.CharField(_("CUDA version"), max_length=20, blank=True)
    attached_gpus = models.PositiveSmallIntegerField(_("attached GPUs"), null=True, blank=True)

    class Meta:
        verbose_name = _("GPU collection status")
        verbose_name_plural = _("GPU collection statuses")

    def __str__(self) -> str:
        return str(self.host)


class Gpu(models.Model):
    """A GPU board of a host, identified by its UUID, with its latest reading."""

    host = models.ForeignKey(Host, verbose_name=_("host"), on_delete=models.CASCADE, related_name="gpus")
    uuid = models.CharField(_("UUID"), max_length=80, unique=True)
    # Position in nvidia-smi's output, which is nvidia-smi's own index; the
    # minor number (/dev/nvidiaN) may be in another order.
    index = models.PositiveSmallIntegerField(_("index"))
    minor_number = models.PositiveSmallIntegerField(_("minor number"), null=True, blank=True)
    pci_bus_id = models.CharField(_("PCI bus ID"), max_length=20, blank=True)
    name = models.CharField(_("model"), max_length=100, blank=True)
    persistence_mode = models.CharField(_("persistence mode"), max_length=20, blank=True)
    mig_enabled = models.BooleanField(_("MIG enabled"), default=False)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))
    # Set when a successful report of the host no longer lists this GPU; a
    # lost board is a fault to look at, so the row stays until it returns or
    # an administrator deletes it.
    lost_at = models.DateTimeField(_("missing since"), null=True, blank=True)

    memory_used_mib = models.PositiveIntegerField(_("memory used (MiB)"), null=True, blank=True)
    memory_total_mib = models.PositiveIntegerField(_("memory total (MiB)"), null=True, blank=True)
    utilization_percent = models.PositiveSmallIntegerField(_("utilisation (%)"), null=True, blank=True)
    temperature_c = models.SmallIntegerField(_("temperature (°C)"), null=True, blank=True)
    power_draw_w = models.FloatField(_("power draw (W)"), null=True, blank=True)
    power_limit_w = models.FloatField(_("power limit (W)"), null=True, blank=True)
    # Memory in use that no listed process explains; None when unknown.
    unattributed_memory_mib = models.PositiveIntegerField(_("unattributed memory (MiB)"), null=True, blank=True)

    class Meta:
        verbose_name = _("GPU")
        verbose_name_plural = _("GPUs")
        ordering = ["host", "index"]

    def __str__(self) -> str:
        return f"{self.host} GPU {self.index} ({self.name})"


class GpuProcess(models.Model):
    """A process holding memory on a GPU in the host's latest successful sample.

    The rows of a host are replaced at every successful collection. A PID on
    two GPUs has two rows.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="gpu_processes")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="processes")
    pid = models.PositiveIntegerField(_("PID"))
    type = models.CharField(_("type"), max_length=10, blank=True)
    process_name = models.CharField(_("process"), max_length=255, blank=True)
    used_memory_mib = models.PositiveIntegerField(_("memory (MiB)"), null=True, blank=True)
    kind = models.CharField(_("owner"), max_length=20, choices=OwnerKind.choices)
    project = models.CharField(_("LXD project"), max_length=63, blank=True)
    instance = models.CharField(_("instance"), max_length=63, blank=True)
    # Set when the portal manages the instance (same host, project and name).
    container = models.ForeignKey(
        Container, on_delete=models.SET_NULL, null=True, blank=True, related_name="gpu_processes"
    )
    unix_user = models.CharField(_("Unix user"), max_length=64, blank=True)
    cgroup = models.CharField(_("cgroup"), max_length=255, blank=True)

    class Meta:
        ordering = ["gpu", "-used_memory_mib", "pid"]

    def __str__(self) -> str:
        return f"{self.pid} on {self.gpu_id}"


class HostSample(models.Model):
    """One collection attempt on a host: its outcome, and why it failed."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="gpu_samples")
    taken_at = models.DateTimeField(_("time"))
    ok = models.BooleanField(_("succeeded"))
    failure_kind = models.CharField(_("failure"), max_length=20, choices=FailureKind.choices, blank=True)
    failure_detail = models.TextField(_("failure detail"), blank=True)
    gpu_count = models.PositiveSmallIntegerField(default=0)
    process_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["host", "taken_at"]), models.Index(fields=["taken_at"])]

    def __str__(self) -> str:
        return f"{self.host_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class GpuSample(models.Model):
    """One reading of one GPU. `seconds` is the time span this reading covers, ending at `taken_at`."""

    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="samples")
    taken_at = models.DateTimeField()
    seconds = models.PositiveIntegerField()
    memory_used_mib = models.PositiveIntegerField(null=True)
    memory_total_mib = models.PositiveIntegerField(null=True)
    utilization_percent = models.PositiveSmallIntegerField(null=True)
    temperature_c = models.SmallIntegerField(null=True)
    power_draw_w = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["gpu", "taken_at"]), models.Index(fields=["taken_at"])]

    def __str__(self) -> str:
        return f"GPU {self.gpu_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class ContainerGpuSample(models.Model):
    """The memory one LXD instance held on one GPU at one sample.

    `memory_mib` sums the processes whose memory the driver reported.
    `container` is set when the portal manages the instance.
    """

    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="container_samples")
    taken_at = models.DateTimeField()
    seconds = models.PositiveIntegerField()
    container = models.ForeignKey(
        Container, on_delete=models.SET_NULL, null=True, blank=True, related_name="gpu_samples"
    )
    project = models.CharField(max_length=63)
    instance = models.CharField(max_length=63)
    memory_mib = models.PositiveIntegerField()
    process_count = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["container", "taken_at"]),
            models.Index(fields=["gpu", "taken_at"]),
            models.Index(fields=["taken_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.instance} on GPU {self.gpu_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class GpuHourlyRollup(models.Model):
    """One GPU over one hour: averages and maxima of its raw samples."""

    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="hourly_rollups")
    hour = models.DateTimeField()
    sample_count = models.PositiveIntegerField()
    seconds = models.PositiveIntegerField()
    memory_used_avg_mib = models.FloatField(null=True)
    memory_used_max_mib = models.PositiveIntegerField(null=True)
    utilization_avg_percent = models.FloatField(null=True)
    utilization_max_percent = models.PositiveSmallIntegerField(null=True)
    temperature_max_c = models.SmallIntegerField(null=True)
    power_avg_w = models.FloatField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["gpu", "hour"], name="gpu_rollup_unique_hour")]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"GPU {self.gpu_id} hour {self.hour:%Y-%m-%d %H:00}"


class ContainerGpuHourlyRollup(models.Model):
    """One LXD instance on one GPU over one hour, for charts and accounting.

    `memory_mib_seconds / 3600` is the hour's memory-hours in MiB·h and
    `seconds / 3600` its GPU-hours (time the instance held memory on the GPU).
    """

    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="container_hourly_rollups")
    hour = models.DateTimeField()
    container = models.ForeignKey(
        Container, on_delete=models.SET_NULL, null=True, blank=True, related_name="gpu_hourly_rollups"
    )
    project = models.CharField(max_length=63)
    instance = models.CharField(max_length=63)
    sample_count = models.PositiveIntegerField()
    seconds = models.PositiveIntegerField()
    memory_mib_seconds = models.BigIntegerField()
    memory_max_mib = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["container", "hour"]),
            models.Index(fields=["gpu", "hour"]),
            models.Index(fields=["hour"]),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.instance} on GPU {self.gpu_id} hour {self.hour:%Y-%m-%d %H:00}"


class RollupWatermark(models.Model):
    """The single row recording that every hour before `rolled_up_until` is rolled up."""

    rolled_up_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"rolled up until {self.rolled_up_until:%Y-%m-%d %H:%M}"
