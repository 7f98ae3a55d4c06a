"""Time provisioning through the portal against the same steps done directly with `lxc`.

One run of this script alternates the two paths N times on the same host,
project and template:

- portal: from the call to `approve_request` until the job is observed
  succeeded (container verified: address on eth0, user, SSH port open), with
  a real Celery worker process on the Redis broker;
- direct: benchmarks/provision_direct.sh, the same steps with the `lxc` CLI.

It prints each run, the median of each path, their ratio (portal/direct),
and the median of the ratios within each round.
The ratio is what the portal costs over a person (or a script) doing the job
by hand: database rows, the queue, step records and the checks from outside.

Usage (as root, after `scripts/setup-lxd.sh --project PROJECT` and
`manage.py migrate` on DATABASE_URL's database):

    DATABASE_URL=... REDIS_URL=... .venv/bin/python benchmarks/provision_benchmark.py \
        --project portal-bench --runs 3

The script creates its own subnet, host, template and user rows (named
`bench-...`) and instances (`bench-...`), and deletes them at the end.
Addresses come from --first-ip onwards: 2 x runs consecutive addresses on
the bridge, which must be free.
"""

import argparse
import ipaddress
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from accounts.models import User  # noqa: E402
from containers.models import Container, ContainerRequest, Host, ProvisioningJob, Subnet, Template  # noqa: E402
from containers.passwords import make_crypt_hash  # noqa: E402
from containers.services import approve_request  # noqa: E402
from hostops.lxd import LXDHost  # noqa: E402
from portal.celery import app as celery_app  # noqa: E402

DIRECT_SCRIPT = REPOSITORY / "benchmarks" / "provision_direct.sh"
# Seconds between two looks at the job row; small against a run of several seconds.
POLL_INTERVAL = 0.05
JOB_DEADLINE = 300
GATEWAY = "198.18.0.1"
NETWORK = "198.18.0.0/24"
USERNAME = "bench"
# An ed25519 public key with no private half anywhere: only its format matters here.
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench@portal"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each path (default 3)")
    parser.add_argument(
        "--project",
        default=os.environ.get("PORTAL_TEST_LXD_PROJECT", "default"),
        help="LXD project that has template/gpu (default $PORTAL_TEST_LXD_PROJECT or default)",
    )
    parser.add_argument("--socket", default="/var/lib/lxd/unix.socket", help="LXD unix socket")
    parser.add_argument("--first-ip", default="198.18.0.230", help="first of 2 x runs free addresses on portalbr0")
    arguments = parser.parse_args()
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    return arguments


class Lab:
    """The database rows one benchmark run needs, deleted again by `remove`."""

    def __init__(self, arguments: argparse.Namespace, tag: str) -> None:
        first = ipaddress.IPv4Address(arguments.first_ip)
        last = first + arguments.runs - 1
        self.direct_addresses = [str(last + 1 + number) for number in range(arguments.runs)]
        if ipaddress.IPv4Address(self.direct_addresses[-1]) not in ipaddress.IPv4Network(NETWORK):
            raise SystemExit(f"--first-ip {first} leaves too few addresses in {NETWORK} for {arguments.runs} runs")

        self.subnet = Subnet.objects.create(
            name=f"bench-{tag}",
            cidr=NETWORK,
            gateway=GATEWAY,
            dns_servers=[GATEWAY],
            bridge="portalbr0",
            range_start=str(first),
            range_end=str(last),
        )
        self.host = Host.objects.create(
            name=f"bench-{tag}", endpoint=arguments.socket, project=arguments.project, subnet=self.subnet
        )
        self.template = Template.objects.create(
            name=f"bench-{tag}", host=self.host, cpu_limit=2, memory_limit="1GiB", default_user="tmp"
        )
        self.member = User.objects.create_user(username=f"bench-member-{tag}", password=uuid.uuid4().hex)
        self.admin = User.objects.create_user(username=f"bench-admin-{tag}", password=uuid.uuid4().hex, is_staff=True)
        self.password_hash = make_crypt_hash(uuid.uuid4().hex)

    def remove(self) -> None:
        with transaction.atomic():
            containers = Container.objects.filter(host=self.host)
            requests = ContainerRequest.objects.filter(template=self.template)
            for container in containers:
                container.jobs.all().delete()
                container.audit_entries.all().delete()
            containers.delete()
            requests.delete()
            self.template.delete()
            self.host.delete()
            self.subnet.delete()
            User.objects.filter(pk__in=[self.member.pk, self.admin.pk]).delete()


def start_worker() -> subprocess.Popen:
    """Start a Celery worker process and wait until it replies to a ping."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            f"--hostname=bench-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPOSITORY,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if celery_app.control.ping(timeout=0.5):
            return process
        if process.poll() is not None:
            raise SystemExit(f"the Celery worker exited with code {process.returncode}")
    raise SystemExit("the Celery worker did not respond to a ping within 60 s")


def time_portal(lab: Lab, name: str) -> float:
    request = ContainerRequest.objects.create(
        member=lab.member,
        template=lab.template,
        name=name,
        username=USERNAME,
        password_hash=lab.password_hash,
        ssh_keys=PUBLIC_KEY,
        reason="benchmark",
    )
    started = time.monotonic()
    job = approve_request(request.pk, lab.admin).jobs.get()
    deadline = started + JOB_DEADLINE
    while time.monotonic() < deadline:
        status = ProvisioningJob.objects.filter(pk=job.pk).values_list("status", flat=True).get()
        if status == ProvisioningJob.Status.SUCCEEDED:
            elapsed = time.monotonic() - started
            print("    steps: " + step_durations(job), flush=True)
            return elapsed
        if status == ProvisioningJob.Status.FAILED:
            job.refresh_from_db()
            raise SystemExit(f"portal run {name} failed: {job.last_error}")
        time.sleep(POLL_INTERVAL)
    raise SystemExit(f"portal run {name} did not finish within {JOB_DEADLINE} s")


def step_durations(job: ProvisioningJob) -> str:
    """Return each step's duration in seconds as recorded on the job, for finding where time goes."""
    parts = []
    for step in job.steps.order_by("position"):
        parts.append(f"{step.name} {(step.finished_at - step.started_at).total_seconds():.2f}")
    return ", ".join(parts)


def time_direct(lab: Lab, arguments: argparse.Namespace, name: str, address: str, files: dict[str, str]) -> float:
    command = [
        str(DIRECT_SCRIPT),
        arguments.project,
        name,
        USERNAME,
        address,
        "24",
        GATEWAY,
        GATEWAY,
        files["hash"],
        files["keys"],
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"direct run {name} failed with exit code {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    arguments = parse_arguments()
    tag = uuid.uuid4().hex[:6]
    lxd = LXDHost(arguments.socket, project=arguments.project)
    if not lxd.snapshot_exists("template", "gpu"):
        raise SystemExit(f"template/gpu is missing in LXD project {arguments.project}; run scripts/setup-lxd.sh")

    lab = Lab(arguments, tag)
    worker = start_worker()
    names: list[str] = []
    portal_times: list[float] = []
    direct_times: list[float] = []
    with tempfile.TemporaryDirectory() as directory:
        files = {"hash": f"{directory}/hash", "keys": f"{directory}/keys"}
        Path(files["hash"]).write_text(lab.password_hash)
        Path(files["keys"]).write_text(PUBLIC_KEY + "\n")
        try:
            for number in range(arguments.runs):
                # Alternate which path goes first, so neither always meets a warmer cache.
                order = ("portal", "direct") if number % 2 == 0 else ("direct", "portal")
                for path in order:
                    name = f"bench-{tag}-{path[0]}{number}"
                    names.append(name)
                    if path == "portal":
                        elapsed = time_portal(lab, name)
                        portal_times.append(elapsed)
                    else:
                        elapsed = time_direct(lab, arguments, name, lab.direct_addresses[number], files)
                        direct_times.append(elapsed)
                    print(f"run {number + 1} {path:6} {name}: {elapsed:6.2f} s", flush=True)
                    # Deleting is not part of provisioning, so it happens outside the timings.
                    lxd.delete(name)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
            for name in names:
                lxd.delete(name)
            lab.remove()

    portal = statistics.median(portal_times)
    direct = statistics.median(direct_times)
    print()
    print(f"portal median {portal:6.2f} s   ({', '.join(f'{t:.2f}' for t in portal_times)})")
    print(f"direct median {direct:6.2f} s   ({', '.join(f'{t:.2f}' for t in direct_times)})")
    print(f"ratio portal/direct {portal / direct:.2f} (target <= 1.15)")
    # Each round ran both paths back to back, so the ratio within a round is
    # less affected by load that other processes put on the machine.
    paired = statistics.median(p / d for p, d in zip(portal_times, direct_times, strict=True))
    print(f"median of the per-round ratios {paired:.2f}")


if __name__ == "__main__":
    main()
