"""Print which container uses which GPU memory right now, as a table or JSON.

Reads nvidia-smi (or a saved `nvidia-smi -q -x` output) and /proc (or a copy
of it) on this machine. It never writes to the database.
"""

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from containers.models import Host
from gpus.attribution import Snapshot, attribute, snapshot_as_json
from hostops.lxd import LXDError, LXDHost
from hostops.nvidia import NvidiaSmiError, NvidiaSmiReport, parse_nvidia_smi_xml, run_nvidia_smi

LOCAL_SOCKETS = ("/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket")


def format_mib(value: int | None) -> str:
    return "-" if value is None else f"{value} MiB"


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


class Command(BaseCommand):
    help = (
        "Print the current GPU attribution of this host: GPUs, the processes holding memory on them with their "
        "container (from /proc/PID/cgroup), the memory per container and the memory no process explains. "
        "Nothing is written to the database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of tables.")
        parser.add_argument(
            "--nvidia-smi-xml",
            metavar="FILE",
            help="Read a saved `nvidia-smi -q -x` output from FILE instead of running NVIDIA_SMI_PATH.",
        )
        parser.add_argument(
            "--proc-root",
            metavar="DIR",
            help=(
                "Read DIR/<pid>/cgroup (and DIR/<pid>/status) instead of PROC_ROOT. The instance list that undoes "
                "LXC's -1, -2 cgroup name suffixes still comes from LXD when it is reachable; otherwise cgroup "
                "names are taken as they are and a note is printed on stderr."
            ),
        )
        parser.add_argument(
            "--host",
            metavar="NAME",
            help="Portal host whose LXD endpoint gives the instance list (default: the local LXD socket).",
        )

    def handle(self, *args, **options):
        report = self.read_report(options["nvidia_smi_xml"])
        proc_root = options["proc_root"] or settings.PROC_ROOT
        if options["proc_root"] and not Path(proc_root).is_dir():
            raise CommandError(f"--proc-root {proc_root} is not a directory.")

        instances = self.instance_list(options["host"])
        snapshot = attribute(report, proc_root, instances)
        if options["json"]:
            self.stdout.write(json.dumps(snapshot_as_json(snapshot), indent=2))
        else:
            self.stdout.write(self.render_tables(snapshot))

    def read_report(self, xml_path: str | None) -> NvidiaSmiReport:
        try:
            if xml_path:
                try:
                    text = Path(xml_path).read_text(errors="replace")
                except OSError as error:
                    raise CommandError(f"Cannot read --nvidia-smi-xml {xml_path}: {error.strerror}.") from None
                return parse_nvidia_smi_xml(text)
            return run_nvidia_smi(settings.NVIDIA_SMI_PATH, settings.NVIDIA_SMI_TIMEOUT)
        except NvidiaSmiError as error:
            raise CommandError(f"nvidia-smi data unavailable ({error.kind.value}): {error.detail}") from None

    def instance_list(self, host_name: str | None) -> list[tuple[str, str]] | None:
        if host_name:
            host = Host.objects.filter(name=host_name).first()
            if host is None:
                raise CommandError(f"No host named {host_name!r}; see the hosts in the admin.")
            lxd = LXDHost.for_host(host)
        else:
            socket = next((path for path in LOCAL_SOCKETS if os.path.exists(path)), LOCAL_SOCKETS[0])
            lxd = LXDHost(socket)
        try:
            return lxd.list_all_instances()
        except LXDError as error:
            self.stderr.write(f"Note: LXD instance list unavailable ({error}); cgroup names are taken as they are.")
            return None

    def render_tables(self, snapshot: Snapshot) -> str:
        report = snapshot.report
        gpu_rows = [["GPU", "UUID", "MODEL", "MEMORY USED", "TOTAL", "UTIL", "UNATTRIBUTED"]]
        for gpu in report.gpus:
            utilization = "-" if gpu.utilization_percent is None else f"{gpu.utilization_percent} %"
            gpu_rows.append(
                [
                    str(gpu.index),
                    gpu.uuid,
                    gpu.name,
                    format_mib(gpu.memory_used_mib),
                    format_mib(gpu.memory_total_mib),
                    utilization,
                    format_mib(snapshot.unattributed_memory_mib.get(gpu.uuid)),
                ]
            )

        process_rows = [["PID", "GPU", "TYPE", "MEMORY", "KIND", "PROJECT", "CONTAINER", "USER", "PROCESS"]]
        for item in snapshot.processes:
            owner = item.owner
            process_rows.append(
                [
                    str(item.process.pid),
                    str(item.gpu.index),
                    item.process.type or "-",
                    format_mib(item.process.used_memory_mib),
                    owner.kind.value,
                    owner.project or "-",
                    owner.instance or "-",
                    owner.user or "-",
                    item.process.name or "-",
                ]
            )

        container_rows = [["CONTAINER", "PROJECT", "MEMORY", "GPUS"]]
        indexes = {gpu.uuid: str(gpu.index) for gpu in report.gpus}
        for use in snapshot.containers:
            gpus = ",".join(indexes[uuid] for uuid in use.gpu_uuids)
            container_rows.append([use.name, use.project, format_mib(use.memory_mib), gpus])

        parts = [f"Driver {report.driver_version or '-'}, CUDA {report.cuda_version or '-'}", format_table(gpu_rows)]
        parts.append(format_table(process_rows) if len(process_rows) > 1 else "No GPU processes.")
        if len(container_rows) > 1:
            parts.append(format_table(container_rows))
        if snapshot.vanished_pids:
            parts.append("Exited before /proc was read: " + ", ".join(map(str, snapshot.vanished_pids)))
        return "\n\n".join(parts) + "\n"
