"""The GPU pages for anonymous visitors, members and administrators."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gpus.models import GpuHostStatus, GpuProcess, OwnerKind
from tests.gpus.builders import add_history, hold_memory, make_gpus

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("gpus:overview")
ACCOUNTING = reverse("gpus:accounting")


@pytest.fixture
def lab(gpu_host, member, other_member, make_container):
    """One host with two GPUs: alice's and bob's containers, an unmanaged instance and a host process."""
    now = timezone.now()
    gpus = make_gpus(gpu_host, 2, now)
    alice_box = make_container(member, gpu_host, "alice-box")
    bob_box = make_container(other_member, gpu_host, "bob-box")
    hold_memory(gpus[0], alice_box, 4096, pid=1001)
    hold_memory(gpus[1], alice_box, 1024, pid=1001)
    hold_memory(gpus[0], bob_box, 2048, pid=1002)
    hold_memory(gpus[1], None, 512, pid=1003, instance="stray", project="lab")
    GpuProcess.objects.create(
        host=gpu_host,
        gpu=gpus[1],
        pid=1004,
        type="G",
        process_name="/usr/lib/xorg/Xorg",
        used_memory_mib=300,
        kind=OwnerKind.HOST,
        unix_user="root",
        cgroup="/",
    )
    gpus[1].unattributed_memory_mib = 900
    gpus[1].save()
    return {"gpus": gpus, "alice_box": alice_box, "bob_box": bob_box, "now": now}


@pytest.mark.parametrize("name", ["gpus:overview", "gpus:accounting"])
def test_anonymous_is_sent_to_sign_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_anonymous_container_page_is_sent_to_sign_in(client, lab):
    response = client.get(reverse("gpus:container_gpu", args=[lab["alice_box"].pk]))

    assert response.status_code == 302


def test_member_sees_container_names_without_owners(member_client, lab):
    response = member_client.get(OVERVIEW)

    page = response.content.decode()
    assert response.status_code == 200
    assert "alice-box" in page
    assert "bob-box" in page
    assert "stray" in page
    assert "(bob)" not in page
    assert "(Alice)" not in page
    assert "Processes on these GPUs" not in page
    assert "Unattributed" not in page
    assert "Host process of user" not in page


def test_member_sees_other_memory_summed(member_client, lab):
    page = member_client.get(OVERVIEW).content.decode()

    assert "Other processes: 300 MiB" in page


def test_member_links_only_own_container(member_client, lab):
    page = member_client.get(OVERVIEW).content.decode()

    assert reverse("gpus:container_gpu", args=[lab["alice_box"].pk]) in page
    assert reverse("gpus:container_gpu", args=[lab["bob_box"].pk]) not in page


def test_admin_sees_owners_processes_and_unattributed(staff_client, lab):
    page = staff_client.get(OVERVIEW).content.decode()

    assert "(Alice)" in page
    assert "(bob)" in page
    assert "Processes on these GPUs" in page
    assert "Host process of user root" in page
    assert "lab: LXD instance not managed by the portal" in page
    assert "Unattributed: 900 MiB" in page
    assert "Driver 535.54.03, CUDA 12.2." in page


def test_admin_sees_memory_per_gpu_of_each_container(staff_client, lab):
    response = staff_client.get(OVERVIEW)

    rows = {row.gpu.index: row for row in response.context["hosts"][0].gpus}
    assert [(h.name, h.memory_mib) for h in rows[0].holdings] == [("alice-box", 4096), ("bob-box", 2048)]
    assert [(h.name, h.memory_mib) for h in rows[1].holdings] == [("alice-box", 1024), ("stray", 512)]
    assert rows[1].other_memory_mib == 300


def test_idle_gpu_with_holders_is_flagged_for_admin(staff_client, member_client, lab, settings):
    settings.GPU_IDLE_MINUTES = 60
    settings.GPU_IDLE_UTILIZATION_PERCENT = 5
    now = lab["now"]
    add_history(lab["gpus"][:1], [], now - timedelta(minutes=70), now, timedelta(minutes=1), utilization=2)
    add_history(lab["gpus"][1:], [], now - timedelta(minutes=70), now, timedelta(minutes=1), utilization=60)

    admin_page = staff_client.get(OVERVIEW)
    member_page = member_client.get(OVERVIEW).content.decode()

    rows = admin_page.context["hosts"][0].gpus
    assert rows[0].idle_since is not None
    assert [h.name for h in rows[0].idle_holdings] == ["alice-box", "bob-box"]
    assert rows[1].idle_since is None
    assert "Idle: utilisation below 5 % for at least 60 minutes" in admin_page.content.decode()
    assert "Idle:" not in member_page


def test_short_idle_history_is_not_flagged(staff_client, lab, settings):
    settings.GPU_IDLE_MINUTES = 120
    now = lab["now"]
    add_history(lab["gpus"][:1], [], now - timedelta(minutes=30), now, timedelta(minutes=1), utilization=0)

    response = staff_client.get(OVERVIEW)

    assert response.context["hosts"][0].gpus[0].idle_since is None


def test_failing_host_shows_reason_to_admin_only(staff_client, member_client, lab, gpu_host):
    last_good = lab["now"] - timedelta(minutes=30)
    GpuHostStatus.objects.filter(host=gpu_host).update(
        last_success_at=last_good,
        failure_kind="failed",
        failure_detail="Exit code 18: Failed to initialize NVML: Driver/library version mismatch",
    )

    admin_page = staff_client.get(OVERVIEW).content.decode()
    member_page = member_client.get(OVERVIEW).content.decode()

    assert "nvidia-smi failed" in admin_page
    assert "Driver/library version mismatch" in admin_page
    assert 'data-health="failing"' in admin_page
    assert "GPU data of this host is not current" in member_page
    assert timezone.localtime(last_good).strftime("%Y-%m-%d %H:%M:%S") in member_page
    assert "version mismatch" not in member_page
    # The last good numbers stay on the page.
    assert "alice-box" in member_page


def test_stale_host_shows_time_and_queue(staff_client, member_client, lab, gpu_host, settings):
    settings.GPU_STALE_SECONDS = 120
    GpuHostStatus.objects.filter(host=gpu_host).update(
        last_success_at=lab["now"] - timedelta(minutes=10), last_attempt_at=lab["now"] - timedelta(minutes=10)
    )

    admin_page = staff_client.get(OVERVIEW).content.decode()
    member_page = member_client.get(OVERVIEW).content.decode()

    assert 'data-health="stale"' in admin_page
    assert "queue gpu.gpu1" in admin_page
    assert "No new GPU data since" in member_page
    assert "gpu.gpu1" not in member_page


def test_host_without_data_says_so(staff_client, gpu_host):
    page = staff_client.get(OVERVIEW).content.decode()

    assert "No GPU data from this host yet." in page
    assert "gpu.gpu1" in page


def test_lost_gpu_is_shown_to_admin(staff_client, lab, gpu_host):
    lost = lab["gpus"][1]
    lost.lost_at = lab["now"] - timedelta(minutes=5)
    lost.save()
    GpuHostStatus.objects.filter(host=gpu_host).update(attached_gpus=1)

    page = staff_client.get(OVERVIEW).content.decode()

    assert f"GPU {lost.uuid} (PCI" in page
    assert "is missing from nvidia-smi" in page
    assert "Missing since" in page


def test_persistence_off_is_reported_to_admin(staff_client, lab):
    lab["gpus"][0].persistence_mode = "Disabled"
    lab["gpus"][0].save()

    page = staff_client.get(OVERVIEW).content.decode()

    assert "Persistence mode is off on GPU" in page


def test_owner_sees_own_container_page(member_client, lab):
    now = lab["now"]
    box = lab["alice_box"]
    add_history(lab["gpus"], [(lab["gpus"][0], box, 4096)], now - timedelta(hours=3), now, timedelta(minutes=5))

    response = member_client.get(reverse("gpus:container_gpu", args=[box.pk]))

    assert response.status_code == 200
    usage = response.context["usage"]
    assert usage.memory_mib_now == 5120
    assert [entry["memory_mib"] for entry in usage.current] == [4096, 1024]
    charts = response.context["charts"]
    day_memory = charts["day_memory"][0]
    values = [value for _, value in day_memory["points"] if value]
    assert day_memory["label"] == "gpu1 GPU 0"
    assert max(values) == pytest.approx(4096, rel=0.01)
    assert charts["day_utilization"][0]["label"] == "gpu1 GPU 0"
    assert 'id="gpu-chart-data"' in response.content.decode()
    assert "js/gpu-charts" in response.content.decode()


def test_other_member_gets_404_for_container_page(other_member_client, lab):
    response = other_member_client.get(reverse("gpus:container_gpu", args=[lab["alice_box"].pk]))

    assert response.status_code == 404


def test_admin_sees_any_container_page(staff_client, lab):
    response = staff_client.get(reverse("gpus:container_gpu", args=[lab["alice_box"].pk]))

    assert response.status_code == 200
    assert "Owner: Alice" in response.content.decode()


def test_container_page_without_data_says_so(member_client, member, gpu_host, make_container):
    box = make_container(member, gpu_host, "idle-box")

    response = member_client.get(reverse("gpus:container_gpu", args=[box.pk]))

    assert "This container holds no GPU memory right now." in response.content.decode()
    assert response.context["charts"]["week_memory"] == []


def test_member_cannot_see_accounting(member_client):
    assert member_client.get(ACCOUNTING).status_code == 403


def test_accounting_lists_members_and_containers(staff_client, lab):
    now = lab["now"]
    box = lab["alice_box"]
    add_history(lab["gpus"], [(lab["gpus"][0], box, 2048)], now - timedelta(hours=2), now, timedelta(minutes=5))

    response = staff_client.get(ACCOUNTING)

    assert response.status_code == 200
    members = response.context["members"]
    assert [member.owner_name for member in members] == ["Alice (alice)"]
    assert members[0].totals.gpu_hours == pytest.approx(2.0, abs=0.1)
    assert members[0].totals.memory_gib_hours == pytest.approx(4.0, abs=0.2)
    assert "alice-box" in response.content.decode()


def test_accounting_rejects_reversed_period(staff_client):
    response = staff_client.get(ACCOUNTING, {"start": "2026-02-10", "end": "2026-02-01"})

    assert response.status_code == 200
    assert "The end date must not come before the start date." in response.content.decode()
    assert response.context["members"] == []


def test_accounting_rejects_garbage_dates(staff_client):
    response = staff_client.get(ACCOUNTING, {"start": "yesterday'; DROP TABLE", "end": ""})

    assert response.status_code == 200
    assert not response.context["form"].is_valid()


def test_idle_flag_needs_current_data(staff_client, lab, gpu_host, settings):
    settings.GPU_IDLE_MINUTES = 60
    now = lab["now"]
    add_history(lab["gpus"][:1], [], now - timedelta(minutes=70), now, timedelta(minutes=1), utilization=0)
    GpuHostStatus.objects.filter(host=gpu_host).update(failure_kind="timed_out", failure_detail="did not finish")

    response = staff_client.get(OVERVIEW)

    assert response.context["hosts"][0].gpus[0].idle_since is None


def test_instance_list_error_is_explained_to_admin(staff_client, lab, gpu_host):
    GpuHostStatus.objects.filter(host=gpu_host).update(instance_list_error="LXD socket /x does not exist.")

    page = staff_client.get(OVERVIEW).content.decode()

    assert "instance list was unavailable" in page
    assert "LXD socket /x does not exist." in page
