"""The querysets behind the GPU pages, one module per page.

Each page runs a fixed number of queries, whatever the number of hosts,
GPUs, containers or days of history. Current values come from `Gpu` and
`GpuProcess`. History comes from hourly roll-ups before the roll-up
watermark and from raw samples after it, grouped by the database.
"""

from gpus.queries.accounting import ContainerAccount, MemberAccount, UsageTotals, account_usage
from gpus.queries.history import ContainerUsage, Series, container_usage
from gpus.queries.overview import GpuRow, HostHealth, HostOverview, gpu_overview, idle_since_by_gpu

__all__ = [
    "ContainerAccount",
    "ContainerUsage",
    "GpuRow",
    "HostHealth",
    "HostOverview",
    "MemberAccount",
    "Series",
    "UsageTotals",
    "account_usage",
    "container_usage",
    "gpu_overview",
    "idle_since_by_gpu",
]
