"""The accounting page: GPU memory-hours and GPU-hours per member and per container."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from gpus.models import ContainerGpuHourlyRollup, ContainerGpuSample
from gpus.rollups import current_watermark, memory_mib_seconds


@dataclass
class UsageTotals:
    memory_mib_seconds: int = 0
    seconds: int = 0

    @property
    def memory_gib_hours(self) -> float:
        return self.memory_mib_seconds / 3600 / 1024

    @property
    def gpu_hours(self) -> float:
        return self.seconds / 3600

    def add(self, memory_mib_seconds: int, seconds: int) -> None:
        self.memory_mib_seconds += memory_mib_seconds or 0
        self.seconds += seconds or 0


@dataclass
class ContainerAccount:
    name: str
    project: str
    container_id: int | None
    owner_id: int | None
    owner_name: str
    totals: UsageTotals = field(default_factory=UsageTotals)


@dataclass
class MemberAccount:
    owner_id: int | None
    owner_name: str
    container_count: int = 0
    totals: UsageTotals = field(default_factory=UsageTotals)


ACCOUNT_FIELDS = (
    "container_id",
    "container__owner_id",
    "container__owner__username",
    "container__owner__first_name",
    "container__owner__last_name",
    "project",
    "instance",
)


def owner_display(row: dict) -> str:
    full_name = f"{row['container__owner__first_name']} {row['container__owner__last_name']}".strip()
    username = row["container__owner__username"]
    if not username:
        return ""
    return f"{full_name} ({username})" if full_name else username


def account_usage(start: datetime, end: datetime) -> tuple[list[MemberAccount], list[ContainerAccount]]:
    """Return GPU memory-hours and GPU-hours per member and per container in [start, end).

    GPU-hours count the time a container held memory on a GPU, once per GPU,
    because nvidia-smi's report has no per-process utilisation. Instances the
    portal does not manage appear with no owner. Three queries.
    """
    watermark = current_watermark()
    parts = []
    if watermark is not None and watermark > start:
        parts.append(
            ContainerGpuHourlyRollup.objects.filter(hour__gte=start, hour__lt=min(end, watermark))
            .values(*ACCOUNT_FIELDS)
            .annotate(memory=Sum("memory_mib_seconds"), total_seconds=Sum("seconds"))
            .order_by()
        )
        raw_start = max(start, watermark)
    else:
        raw_start = start
    parts.append(
        ContainerGpuSample.objects.filter(taken_at__gte=raw_start, taken_at__lt=end)
        .values(*ACCOUNT_FIELDS)
        .annotate(memory=Sum(memory_mib_seconds()), total_seconds=Sum("seconds"))
        .order_by()
    )

    containers: dict[tuple, ContainerAccount] = {}
    for part in parts:
        for row in part:
            key = (row["container_id"], row["project"], row["instance"])
            account = containers.get(key)
            if account is None:
                account = ContainerAccount(
                    name=row["instance"],
                    project=row["project"],
                    container_id=row["container_id"],
                    owner_id=row["container__owner_id"],
                    owner_name=owner_display(row),
                )
                containers[key] = account
            account.totals.add(row["memory"], row["total_seconds"])

    members: dict[int | None, MemberAccount] = {}
    for account in containers.values():
        owner_id = account.owner_id
        member = members.setdefault(
            owner_id,
            MemberAccount(owner_id=owner_id, owner_name=account.owner_name or str(_("Not managed by the portal"))),
        )
        member.container_count += 1
        member.totals.add(account.totals.memory_mib_seconds, account.totals.seconds)

    def by_usage(item):
        return (-item.totals.memory_mib_seconds, -item.totals.seconds)

    return sorted(members.values(), key=by_usage), sorted(containers.values(), key=by_usage)
