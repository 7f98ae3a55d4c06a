"""Provisioning and removal against the real LXD daemon and its template snapshot.

Most tests call the task functions directly, in the test's own thread; the
worker itself is the subject of test_provisioning_worker.py.
"""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from containers import tasks
from containers.models import (
    Address,
    Container,
    ContainerRequest,
    JobLogLine,
    JobStep,
    ProvisioningJob,
)
from containers.provisioning_steps import INIT_DIR, MARKER_CONTAINER, StepFailed
from containers.services import PROVISION_STEPS, abandon_container, approve_request, remove_container, retry_job
from tests.lxd_fixtures import TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE

pytestmark = [pytest.mark.lxd, pytest.mark.django_db]

HOSTILE_COMMENT = "$(touch /tmp/pwned) `touch /tmp/pwned2`; touch /tmp/pwned3"


def public_key(comment: str) -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{blob} {comment}"


@pytest.fixture
def approved(make_request, admin_user, lxd_host, lxd_cleanup):
    """Return a factory: approve a new request for a fresh test instance name and return its job."""

    def approve(**fields) -> ProvisioningJob:
        name = fields.pop("name", None) or lxd_cleanup.new_name("p")
        request = make_request(name=name, **fields)
        container = approve_request(request.pk, admin_user)
        return container.jobs.get()

    return approve


def step_statuses(job: ProvisioningJob) -> dict[str, str]:
    return dict(job.steps.values_list("name", "status"))


def run(lxd_host, name: str, *argv: str):
    return lxd_host.execute(name, list(argv), timeout=30)


def test_provision_builds_ready_container(approved, lxd_host, password_hash):
    key = public_key("alice@laptop")
    job = approved(ssh_keys=key)
    container = job.container

    tasks.provision_container(job.pk)

    job.refresh_from_db()
    container.refresh_from_db()
    assert job.status == ProvisioningJob.Status.SUCCEEDED
    assert job.attempts == 1
    assert job.finished_at is not None
    assert set(step_statuses(job).values()) == {JobStep.Status.DONE}
    assert container.status == Container.Status.READY
    assert container.ready_at is not None
    assert container.last_error == ""
    assert ContainerRequest.objects.get(pk=container.request_id).password_hash == ""

    name, ip = container.name, container.address.ip
    assert lxd_host.instance_status(name) == "Running"
    assert run(lxd_host, name, "cat", "/etc/hostname").stdout.strip() == name
    assert run(lxd_host, name, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()[3] == f"{ip}/24"
    assert "default via 198.18.0.1" in run(lxd_host, name, "ip", "route").stdout
    passwd = run(lxd_host, name, "getent", "passwd", "alice")
    assert passwd.stdout.split(":")[5] == "/home/alice"
    assert run(lxd_host, name, "getent", "passwd", "tmp").exit_code == 2
    assert run(lxd_host, name, "getent", "group", "alice").exit_code == 0
    assert run(lxd_host, name, "getent", "group", "tmp").exit_code == 2
    assert run(lxd_host, name, "id", "-nG", "alice").stdout.split().count("sudo") == 1
    shadow = run(lxd_host, name, "getent", "shadow", "alice").stdout
    assert shadow.split(":")[1] == password_hash
    assert lxd_host.read_file(name, "/home/alice/.ssh/authorized_keys").decode() == key + "\n"
    assert run(lxd_host, name, "stat", "-c", "%a %U", "/home/alice/.ssh").stdout.split() == ["700", "alice"]
    assert run(lxd_host, name, "stat", "-c", "%a %U", "/home/alice/.ssh/authorized_keys").stdout.split() == [
        "600",
        "alice",
    ]
    assert run(lxd_host, name, "stat", "-c", "%a", "/etc/netplan/50-portal.yaml").stdout.strip() == "600"
    # The pushed inputs, among them the password hash, are gone.
    assert run(lxd_host, name, "test", "-e", f"{INIT_DIR}/values").exit_code == 1
    assert run(lxd_host, name, "test", "-e", f"{INIT_DIR}/password-hash").exit_code == 1
    assert run(lxd_host, name, "test", "-e", f"{INIT_DIR}/authorized_keys").exit_code == 1

    config = lxd_host.instance_config(name)
    assert config[MARKER_CONTAINER] == str(container.pk)
    assert config["limits.cpu"] == "2"
    assert config["limits.memory"] == "1GiB"
    assert config["user.portal.owner"] == "alice"

    messages = list(job.log_lines.values_list("message", flat=True))
    assert any("renamed user tmp to alice" in message for message in messages)
    assert not any(password_hash in message for message in messages)


def test_key_comment_with_shell_syntax_stays_text(approved, lxd_host):
    key = public_key(HOSTILE_COMMENT)
    job = approved(ssh_keys=key)

    tasks.provision_container(job.pk)

    name = job.container.name
    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.SUCCEEDED
    assert lxd_host.read_file(name, "/home/alice/.ssh/authorized_keys").decode() == key + "\n"
    for path in ("/tmp/pwned", "/tmp/pwned2", "/tmp/pwned3", "/pwned"):
        assert run(lxd_host, name, "test", "-e", path).exit_code == 1, path


def test_key_only_request_locks_template_password(approved, lxd_host):
    job = approved(ssh_keys=public_key("alice@laptop"), password_hash="")

    tasks.provision_container(job.pk)

    shadow = run(lxd_host, job.container.name, "getent", "shadow", "alice").stdout
    assert shadow.split(":")[1] == "!"


def test_hostile_username_in_database_is_refused_before_container(approved, lxd_host):
    job = approved()
    # The form and the validators reject this name; a row edited by hand must
    # still not reach the init script.
    Container.objects.filter(pk=job.container_id).update(username="a$(touch /tmp/pwned)")

    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.FAILED
    assert step_statuses(job)["push_script"] == JobStep.Status.FAILED
    assert step_statuses(job)["run_script"] == JobStep.Status.PENDING
    name = job.container.name
    assert run(lxd_host, name, "test", "-e", "/tmp/pwned").exit_code == 1
    assert run(lxd_host, name, "test", "-e", f"{INIT_DIR}/values").exit_code == 1
    assert run(lxd_host, name, "getent", "passwd", "tmp").exit_code == 0


def test_missing_snapshot_fails_copy_with_clear_reason(approved, template, lxd_host):
    template.snapshot = "no-such-snapshot"
    template.save()
    job = approved()

    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)

    job.refresh_from_db()
    container = job.container
    container.refresh_from_db()
    assert job.status == ProvisioningJob.Status.FAILED
    assert container.status == Container.Status.FAILED
    assert "template Debian 12 is missing on host gpu1" in container.last_error
    assert job.last_error == container.last_error
    statuses = step_statuses(job)
    assert statuses["copy"] == JobStep.Status.FAILED
    assert {statuses[name] for name in PROVISION_STEPS[1:]} == {JobStep.Status.PENDING}
    error_line = job.log_lines.get(level=JobLogLine.Level.ERROR)
    assert "no-such-snapshot" in error_line.message
    assert not lxd_host.instance_exists(container.name)


def test_name_taken_on_host_fails_and_leaves_instance(approved, lxd_host, lxd_cleanup):
    name = lxd_cleanup.new_name("taken")
    lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, name, config={"user.someone": "else"})
    job = approved(name=name)

    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)

    job.refresh_from_db()
    container = job.container
    container.refresh_from_db()
    assert job.status == ProvisioningJob.Status.FAILED
    assert step_statuses(job)["copy"] == JobStep.Status.FAILED
    assert f"already has a container named {name}" in container.last_error
    # The other instance is exactly as it was: stopped, its own config, no marker.
    assert lxd_host.instance_status(name) == "Stopped"
    config = lxd_host.instance_config(name)
    assert config["user.someone"] == "else"
    assert MARKER_CONTAINER not in config


def test_abandon_leaves_foreign_instance_and_releases_address(approved, lxd_host, lxd_cleanup, admin_user):
    name = lxd_cleanup.new_name("taken")
    lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, name)
    job = approved(name=name)
    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)

    abandon_container(job.container_id, admin_user)
    removal = ProvisioningJob.objects.get(container=job.container, kind=ProvisioningJob.Kind.REMOVE)
    tasks.remove_container(removal.pk)

    removal.refresh_from_db()
    assert removal.status == ProvisioningJob.Status.SUCCEEDED
    assert Container.objects.get(pk=job.container_id).status == Container.Status.REMOVED
    assert not Address.objects.filter(container_id=job.container_id).exists()
    assert lxd_host.instance_status(name) == "Stopped"


def test_retry_resumes_at_failed_step(approved, template, lxd_host, admin_user):
    template.default_user = "nosuchuser"
    template.save()
    job = approved()

    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)

    job.refresh_from_db()
    statuses = step_statuses(job)
    assert [statuses[name] for name in PROVISION_STEPS] == ["done"] * 4 + ["failed"] + ["pending"] * 3
    assert "the template user nosuchuser does not exist" in job.log_lines.get(level=JobLogLine.Level.ERROR).message
    container = Container.objects.get(pk=job.container_id)
    assert container.status == Container.Status.FAILED
    assert "Setting up your user" in container.last_error
    assert "An administrator can see the details and retry." in container.last_error
    # The script removed its inputs on the way out, even though it failed.
    assert run(lxd_host, container.name, "test", "-e", f"{INIT_DIR}/password-hash").exit_code == 1
    copied_at = job.steps.get(name="copy").finished_at

    template.default_user = "tmp"
    template.save()
    retry_job(job.pk, admin_user)
    tasks.provision_container(job.pk)

    job.refresh_from_db()
    assert job.status == ProvisioningJob.Status.SUCCEEDED
    assert job.attempts == 2
    assert set(step_statuses(job).values()) == {JobStep.Status.DONE}
    assert job.steps.get(name="copy").finished_at == copied_at
    assert job.log_lines.filter(message__contains="inputs again").exists()
    assert Container.objects.get(pk=job.container_id).status == Container.Status.READY
    assert run(lxd_host, container.name, "getent", "passwd", "alice").exit_code == 0


def test_abandon_removes_instance_and_releases_address(approved, template, lxd_host, admin_user):
    template.default_user = "nosuchuser"
    template.save()
    job = approved()
    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)
    name = job.container.name
    assert lxd_host.instance_exists(name)

    abandon_container(job.container_id, admin_user)
    removal = ProvisioningJob.objects.get(container=job.container, kind=ProvisioningJob.Kind.REMOVE)
    tasks.remove_container(removal.pk)

    job.refresh_from_db()
    removal.refresh_from_db()
    assert job.status == ProvisioningJob.Status.ABANDONED
    assert removal.status == ProvisioningJob.Status.SUCCEEDED
    assert set(step_statuses(removal).values()) == {JobStep.Status.DONE}
    container = Container.objects.get(pk=job.container_id)
    assert container.status == Container.Status.REMOVED
    assert not Address.objects.exists()
    assert not lxd_host.instance_exists(name)
    assert ContainerRequest.objects.get(pk=container.request_id).password_hash == ""


def test_remove_ready_container_deletes_instance_and_address(approved, lxd_host, admin_user):
    job = approved()
    tasks.provision_container(job.pk)
    container = Container.objects.get(pk=job.container_id)
    assert container.status == Container.Status.READY
    assert lxd_host.instance_exists(container.name)

    removal = remove_container(container.pk, admin_user)
    tasks.remove_container(removal.pk)

    removal.refresh_from_db()
    container.refresh_from_db()
    assert removal.status == ProvisioningJob.Status.SUCCEEDED
    assert set(step_statuses(removal).values()) == {JobStep.Status.DONE}
    assert container.status == Container.Status.REMOVED
    assert not Address.objects.filter(container=container).exists()
    assert not lxd_host.instance_exists(container.name)


def test_removal_twice_is_harmless(approved, template, lxd_host, admin_user):
    template.snapshot = "no-such-snapshot"
    template.save()
    job = approved()
    with pytest.raises(StepFailed):
        tasks.provision_container(job.pk)
    abandon_container(job.container_id, admin_user)
    removal = ProvisioningJob.objects.get(container=job.container, kind=ProvisioningJob.Kind.REMOVE)

    tasks.remove_container(removal.pk)
    tasks.remove_container(removal.pk)

    removal.refresh_from_db()
    assert removal.status == ProvisioningJob.Status.SUCCEEDED
    assert removal.attempts == 1
    assert Container.objects.get(pk=job.container_id).status == Container.Status.REMOVED
