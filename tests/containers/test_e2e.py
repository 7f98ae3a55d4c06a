"""From the request form to an SSH login: the portal's main job, end to end.

A member submits the form and an administrator approves it, both over HTTP.
A real Celery worker on the Redis broker builds the container in real LXD.
The test then checks the result from outside, as the member would use it.
"""

import base64
import io

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.urls import reverse

from containers.models import Address, Container, ContainerRequest, ProvisioningJob
from tests.containers.conftest import CONTAINER_PASSWORD
from tests.containers.test_provisioning_worker import wait_for_job

pytestmark = [pytest.mark.lxd, pytest.mark.django_db(transaction=True)]

USERNAME = "alice"


def ssh_client(lxd_host, name: str, ip: str) -> paramiko.SSHClient:
    """Return an SSH client that trusts only the host key read from the container itself."""
    key_type, key_data = lxd_host.read_file(name, "/etc/ssh/ssh_host_ed25519_key.pub").decode().split()[:2]
    client = paramiko.SSHClient()
    client.get_host_keys().add(ip, key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def run_over_ssh(client: paramiko.SSHClient, command: str) -> str:
    _stdin, stdout, _stderr = client.exec_command(command, timeout=30)
    output = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, command
    return output.strip()


def test_request_approve_provision_and_log_in(worker, member_client, staff_client, template, lxd_host, lxd_cleanup):
    name = lxd_cleanup.new_name("e2e")
    private_key = ed25519.Ed25519PrivateKey.generate()
    public_key = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        + " alice@laptop"
    )

    # The member requests a container.
    response = member_client.post(
        reverse("containers:request_create"),
        {
            "name": name,
            "username": USERNAME,
            "password": CONTAINER_PASSWORD,
            "password_confirm": CONTAINER_PASSWORD,
            "ssh_keys": public_key,
            "template": template.pk,
            "reason": "Fine-tuning a language model for my thesis.",
        },
    )
    assert response.status_code == 302
    request = ContainerRequest.objects.get(name=name)
    assert request.status == ContainerRequest.Status.PENDING
    assert request.password_hash.startswith("$6$")
    assert CONTAINER_PASSWORD not in request.password_hash

    # An administrator approves it, without choosing an address.
    response = staff_client.post(reverse("containers:approve_request", args=[request.pk]), {"ip": ""})
    assert response.status_code == 302
    container = Container.objects.get(request=request)

    # The worker builds it.
    job = wait_for_job(container.jobs.get(), {ProvisioningJob.Status.SUCCEEDED, ProvisioningJob.Status.FAILED})
    assert job.status == ProvisioningJob.Status.SUCCEEDED, job.last_error
    container.refresh_from_db()
    assert container.status == Container.Status.READY
    ip = container.address.ip

    # The portal shows the member the address it reserved.
    page = member_client.get(reverse("containers:request_detail", args=[request.pk]))
    assert page.status_code == 200
    assert ip in page.content.decode()
    assert Address.objects.get(ip=ip, subnet=template.host.subnet).container_id == container.pk

    # From outside: the instance, its hostname, users and address.
    assert lxd_host.instance_status(name) == "Running"
    assert lxd_host.execute(name, ["hostname"], timeout=30).stdout.strip() == name
    assert lxd_host.execute(name, ["getent", "passwd", "tmp"], timeout=30).exit_code == 2
    assert lxd_host.execute(name, ["test", "-d", f"/home/{USERNAME}"], timeout=30).exit_code == 0
    eth0 = lxd_host.execute(name, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], timeout=30).stdout
    assert [line.split()[3] for line in eth0.splitlines()] == [f"{ip}/24"]

    # The member logs in over the bridge with the password, then with the key.
    client = ssh_client(lxd_host, name, ip)
    client.connect(
        ip, username=USERNAME, password=CONTAINER_PASSWORD, look_for_keys=False, allow_agent=False, timeout=30
    )
    assert run_over_ssh(client, "id -un") == USERNAME
    assert run_over_ssh(client, "hostname") == name
    assert run_over_ssh(client, "pwd") == f"/home/{USERNAME}"
    client.close()

    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    client = ssh_client(lxd_host, name, ip)
    client.connect(
        ip,
        username=USERNAME,
        pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(key_pem)),
        look_for_keys=False,
        allow_agent=False,
        timeout=30,
    )
    assert run_over_ssh(client, "id -un") == USERNAME
    client.close()

    # A wrong password is refused.
    client = ssh_client(lxd_host, name, ip)
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            ip,
            username=USERNAME,
            password="wrong-" + CONTAINER_PASSWORD,
            look_for_keys=False,
            allow_agent=False,
            timeout=30,
        )
    client.close()
