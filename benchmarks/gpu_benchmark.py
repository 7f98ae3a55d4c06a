"""Benchmark GPU collection and the GPU overview page.

1. Collection: one cycle (parse, attribute, store) on the recorded 8-GPU,
   400-process report, compared with the time to read the same file, and
   with one run of a stand-in nvidia-smi that prints it.
2. Overview page: server time with one hour of history, then with a year of
   hourly roll-ups plus GPU_RAW_RETENTION_DAYS of raw samples every 30 s.
   The page must not slow down by more than 1.5x.

It runs against a throwaway PostgreSQL database named bench_<DATABASE name>,
created and dropped by the script. Usage, from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_h4 .venv/bin/python benchmarks/gpu_benchmark.py

Exit code 1 when the page ratio is above the limit. Timings are medians of
--repeat runs after one warm-up run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.test_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

FIXTURE = REPOSITORY / "tests" / "fixtures" / "nvidia" / "r550-h100x8-400-processes.xml"
PAGE_RATIO_LIMIT = 1.5
CONTAINER_COUNT = 20


def median_seconds(function, repeat: int) -> float:
    function()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def write_proc_tree(root: Path, pids: list[int]) -> None:
    """Give each PID a hybrid-host cgroup file: 20 containers in two projects, every tenth PID the host's."""
    for number, pid in enumerate(pids):
        directory = root / str(pid)
        directory.mkdir(parents=True)
        if number % 10 == 9:
            path = "/user.slice/user-1000.slice/session-4.scope"
            (directory / "status").write_text("Uid:\t1000\t1000\t1000\t1000\n")
        else:
            container = number % CONTAINER_COUNT
            prefix = "" if container % 2 else "lab_"
            path = f"/lxc.payload.{prefix}box{container}/system.slice/job.service"
        controllers = ["name=systemd", "pids", "blkio", "freezer", "devices", "memory", "cpuset", "cpuacct", "cpu"]
        lines = [f"{9 - index}:{name}:{path}" for index, name in enumerate(controllers)]
        (directory / "cgroup").write_text("\n".join(lines) + f"\n0::{path}\n")


def benchmark_collection(repeat: int, host, instances) -> dict:
    from gpus.attribution import attribute
    from gpus.collection import record_snapshot
    from hostops.nvidia import parse_nvidia_smi_xml

    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        report = parse_nvidia_smi_xml(FIXTURE.read_text())
        pids = sorted({process.pid for gpu in report.gpus for process in gpu.processes})
        write_proc_tree(scratch_path / "proc", pids)
        stand_in = scratch_path / "nvidia-smi"
        stand_in.write_text(f"#!/bin/sh\ncat {FIXTURE}\n")
        stand_in.chmod(0o755)

        read_file = median_seconds(FIXTURE.read_text, repeat)
        run_stand_in = median_seconds(
            lambda: subprocess.run([str(stand_in), "-q", "-x"], capture_output=True, check=True), repeat
        )

        def cycle():
            text = FIXTURE.read_text()
            snapshot = attribute(parse_nvidia_smi_xml(text), scratch_path / "proc", instances)
            record_snapshot(host, snapshot, timezone.now())

        collection = median_seconds(cycle, repeat)
        return {
            "processes": len(pids),
            "gpus": len(report.gpus),
            "read_file": read_file,
            "run_stand_in": run_stand_in,
            "cycle": collection,
        }


def build_lab():
    from django.contrib.auth import get_user_model

    from containers.models import Container, ContainerRequest, Host, Template

    user_model = get_user_model()
    admin = user_model.objects.create_user("bench-admin", password="x", is_staff=True)
    members = [user_model.objects.create_user(f"member{n}", password="x") for n in range(5)]
    host = Host.objects.create(name="bench", endpoint="/nonexistent/lxd.socket", project="default")
    template = Template.objects.create(name="bench", host=host)
    for number in range(CONTAINER_COUNT):
        owner = members[number % len(members)]
        request = ContainerRequest.objects.create(
            member=owner, template=template, name=f"box{number}", username="u", reason="bench", status="approved"
        )
        Container.objects.create(
            request=request,
            owner=owner,
            host=host,
            template=template,
            name=f"box{number}",
            username="u",
            status="ready",
        )
    return host, admin


def fill_history(start, end, step_seconds: int) -> None:
    """Insert raw samples for every GPU and every (GPU, container) pair seen now, with generate_series."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO gpus_gpusample
                (gpu_id, taken_at, seconds, memory_used_mib, memory_total_mib, utilization_percent,
                 temperature_c, power_draw_w)
            SELECT gpu.id, moment, %s, gpu.memory_used_mib, gpu.memory_total_mib,
                   (extract(epoch FROM moment)::bigint %% 100)::int, 50, 300.0
            FROM gpus_gpu gpu
            CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz, make_interval(secs => %s)) AS moment
            """,
            [step_seconds, start, end, step_seconds],
        )
        cursor.execute(
            """
            INSERT INTO gpus_containergpusample
                (gpu_id, taken_at, seconds, container_id, project, instance, memory_mib, process_count)
            SELECT pair.gpu_id, moment, %s, pair.container_id, pair.project, pair.instance, pair.memory, 1
            FROM (
                SELECT gpu_id, container_id, project, instance, sum(used_memory_mib)::int AS memory
                FROM gpus_gpuprocess WHERE kind = 'container'
                GROUP BY gpu_id, container_id, project, instance
            ) AS pair
            CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz, make_interval(secs => %s)) AS moment
            """,
            [step_seconds, start, end, step_seconds],
        )


def fill_rollups(start, end) -> None:
    """Insert hourly roll-ups for every GPU and (GPU, container) pair seen now, as older history."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO gpus_gpuhourlyrollup
                (gpu_id, hour, sample_count, seconds, memory_used_avg_mib, memory_used_max_mib,
                 utilization_avg_percent, utilization_max_percent, temperature_max_c, power_avg_w)
            SELECT gpu.id, hour, 120, 3600, gpu.memory_used_mib, gpu.memory_used_mib, 40.0, 90, 60, 300.0
            FROM gpus_gpu gpu
            CROSS JOIN generate_series(date_trunc('hour', %s::timestamptz), %s::timestamptz - interval '1 hour',
                                       interval '1 hour') AS hour
            """,
            [start, end],
        )
        cursor.execute(
            """
            INSERT INTO gpus_containergpuhourlyrollup
                (gpu_id, hour, container_id, project, instance, sample_count, seconds, memory_mib_seconds,
                 memory_max_mib)
            SELECT pair.gpu_id, hour, pair.container_id, pair.project, pair.instance, 120, 3600,
                   pair.memory::bigint * 3600, pair.memory
            FROM (
                SELECT gpu_id, container_id, project, instance, sum(used_memory_mib)::int AS memory
                FROM gpus_gpuprocess WHERE kind = 'container'
                GROUP BY gpu_id, container_id, project, instance
            ) AS pair
            CROSS JOIN generate_series(date_trunc('hour', %s::timestamptz), %s::timestamptz - interval '1 hour',
                                       interval '1 hour') AS hour
            """,
            [start, end],
        )


def count_rows() -> dict:
    from gpus.models import ContainerGpuHourlyRollup, ContainerGpuSample, GpuHourlyRollup, GpuSample

    return {
        "gpu_samples": GpuSample.objects.count(),
        "container_samples": ContainerGpuSample.objects.count(),
        "gpu_rollups": GpuHourlyRollup.objects.count(),
        "container_rollups": ContainerGpuHourlyRollup.objects.count(),
    }


def time_pages(client: Client, container_pk: int, repeat: int) -> dict:
    overview = reverse("gpus:overview")
    container_page = reverse("gpus:container_gpu", args=[container_pk])
    accounting = reverse("gpus:accounting")
    return {
        "overview": median_seconds(lambda: client.get(overview), repeat),
        "container": median_seconds(lambda: client.get(container_page), repeat),
        "accounting": median_seconds(lambda: client.get(accounting), repeat),
    }


def benchmark_pages(repeat: int, host, admin) -> dict:
    from containers.models import Container
    from gpus.models import (
        ContainerGpuHourlyRollup,
        ContainerGpuSample,
        GpuHourlyRollup,
        GpuSample,
        HostSample,
        RollupWatermark,
    )
    from gpus.rollups import roll_up_and_prune

    client = Client()
    client.force_login(admin)
    container_pk = Container.objects.filter(name="box0").values_list("pk", flat=True).get()
    now = timezone.now()

    # One hour of history.
    fill_history(now - timedelta(hours=1), now, 30)
    roll_up_and_prune(now)
    hour_rows = count_rows()
    hour = time_pages(client, container_pk, repeat)

    # A year: roll-ups for the hours before the raw retention, raw samples
    # every 30 s for the retention, then a roll-up run as beat would make it.
    GpuSample.objects.all().delete()
    ContainerGpuSample.objects.all().delete()
    HostSample.objects.all().delete()
    GpuHourlyRollup.objects.all().delete()
    ContainerGpuHourlyRollup.objects.all().delete()
    RollupWatermark.objects.all().delete()
    raw_start = now - timedelta(days=settings.GPU_RAW_RETENTION_DAYS)
    fill_rollups(now - timedelta(days=365), raw_start)
    fill_history(raw_start, now, 30)
    roll_up_and_prune(now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    year_rows = count_rows()
    year = time_pages(client, container_pk, repeat)
    return {"hour": hour, "year": year, "hour_rows": hour_rows, "year_rows": year_rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="Timed runs per measurement (default 20).")
    options = parser.parse_args()

    setup_test_environment()
    database = settings.DATABASES["default"]
    database["TEST"]["NAME"] = f"bench_{database['NAME']}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        host, admin = build_lab()
        collection = benchmark_collection(options.repeat, host, instances=None)
        pages = benchmark_pages(options.repeat, host, admin)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"Collection of {collection['gpus']} GPUs and {collection['processes']} processes:")
    print(f"  read the XML file         {collection['read_file'] * 1000:8.2f} ms")
    print(f"  run a stand-in nvidia-smi {collection['run_stand_in'] * 1000:8.2f} ms")
    print(f"  parse + attribute + store {collection['cycle'] * 1000:8.2f} ms")
    print(f"  cycle / file read         {collection['cycle'] / collection['read_file']:8.1f}x")
    print(f"  cycle / stand-in run      {collection['cycle'] / collection['run_stand_in']:8.1f}x")
    print()
    print(f"History rows, one hour: {pages['hour_rows']}")
    print(f"History rows, one year: {pages['year_rows']}")
    failed = False
    for page in ("overview", "container", "accounting"):
        hour, year = pages["hour"][page], pages["year"][page]
        ratio = year / hour
        limit = " (limit 1.5x)" if page == "overview" else ""
        print(f"  {page:<10} hour {hour * 1000:7.2f} ms  year {year * 1000:7.2f} ms  ratio {ratio:5.2f}x{limit}")
        if page == "overview" and ratio > PAGE_RATIO_LIMIT:
            failed = True
    print("FAIL: the overview page slowed down by more than 1.5x" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
