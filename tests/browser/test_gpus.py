"""The GPU overview, filled by the gpus app's own collection task from a recorded nvidia-smi report."""

import pytest
from django.utils import translation
from playwright.sync_api import expect

from containers.models import Container, ContainerRequest, Host, Template
from gpus.models import Gpu
from gpus.tasks import collect_gpu_samples
from gpus.templatetags.gpu_format import mib
from tests.browser.pages import check_page, open_nav, save_screenshot, sign_in, t
from tests.conftest import PASSWORD
from tests.gpus.conftest import fixture_text, hybrid, v2, write_proc_tree, write_stand_in_nvidia_smi

pytestmark = pytest.mark.browser

# Where the processes of r470-rtx3090x4-minor-order.xml run: PID 48213 in the
# member's container (10240 MiB on GPU 0, 3072 MiB on GPU 1), 48377 in an
# instance of another LXD project, 2311 on the host itself.
PROC_CGROUPS = {
    2311: v2("/system.slice/display-manager.service"),
    48213: hybrid("/lxc.payload.zhangsan/user.slice"),
    48377: v2("/lxc.payload.lab_wang/init.scope"),
    60440: v2("/lxc.monitor.zhangsan"),
}


def formatted_mib(amount: int, language: str) -> str:
    with translation.override(language):
        return mib(amount)


@pytest.fixture
def gpu_host(settings, tmp_path, member) -> Host:
    """A GPU host with the member's container `zhangsan`, after one collection of the recorded report."""
    host = Host.objects.create(name="gpu1", endpoint=str(tmp_path / "no-lxd.socket"), project="default")
    template = Template.objects.create(name="Debian 12", host=host)
    request = ContainerRequest.objects.create(
        member=member,
        template=template,
        name="zhangsan",
        username="zhangsan",
        reason="research",
        status=ContainerRequest.Status.APPROVED,
    )
    Container.objects.create(
        request=request,
        owner=member,
        host=host,
        template=template,
        name="zhangsan",
        username="zhangsan",
        status=Container.Status.READY,
    )
    settings.NVIDIA_SMI_PATH = str(
        write_stand_in_nvidia_smi(tmp_path / "bin", stdout=fixture_text("r470-rtx3090x4-minor-order.xml"))
    )
    settings.PROC_ROOT = str(write_proc_tree(tmp_path / "proc", PROC_CGROUPS, uids={2311: 0}))

    collect_gpu_samples(host.pk)

    assert Gpu.objects.filter(host=host).count() == 4
    return host


def test_member_reads_gpu_overview(page, language, member, gpu_host):
    sign_in(page, member.username, PASSWORD, language)
    open_nav(page, "GPUs", language)

    host_card = page.get_by_role("region", name="gpu1")
    expect(host_card.locator(".page-header .badge")).to_have_text(t("Current", language))
    expect(host_card.locator("tbody tr")).to_have_count(4)
    first_gpu = host_card.locator(f'tr[data-gpu="{Gpu.objects.get(index=0).uuid}"]')
    expect(first_gpu).to_contain_text("NVIDIA GeForce RTX 3090")
    holdings = first_gpu.locator(".holdings li")
    expect(holdings).to_have_count(2)
    expect(holdings.filter(has_text="zhangsan")).to_contain_text(formatted_mib(10240, language))
    expect(holdings.filter(has_text="wang")).to_contain_text(formatted_mib(5120, language))
    # Members see who holds memory, not the administrators' process details.
    expect(page.get_by_text(t("Processes on these GPUs", language))).to_have_count(0)
    expect(first_gpu).not_to_contain_text(t("not managed by the portal", language))
    check_page(page, language)
    save_screenshot(page, f"{language}-gpus-member")

    holdings.get_by_role("link", name="zhangsan").click()
    heading = t("GPU use of %(name)s", language) % {"name": "zhangsan"}
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(
        t("This container holds %(amount)s of GPU memory.", language) % {"amount": formatted_mib(13312, language)}
    )
    check_page(page, language)


def test_admin_sees_gpu_processes(page, language, admin_user, member, gpu_host):
    sign_in(page, admin_user.username, PASSWORD, language)
    open_nav(page, "GPUs", language)

    host_card = page.get_by_role("region", name="gpu1")
    first_gpu = host_card.locator(f'tr[data-gpu="{Gpu.objects.get(index=0).uuid}"]')
    expect(first_gpu.locator(".holdings li").filter(has_text="zhangsan")).to_contain_text(f"({member})")
    expect(first_gpu.locator(".holdings li").filter(has_text="wang")).to_contain_text(
        f"lab: {t('not managed by the portal', language)}"
    )
    host_card.get_by_text(t("Processes on these GPUs", language)).click()
    processes = host_card.locator(".gpu-processes tbody tr")
    expect(processes.filter(has_text="48213")).to_have_count(2)
    expect(processes.filter(has_text="2311")).to_contain_text(
        t("Host process of user %(user)s", language) % {"user": "root"}
    )
    expect(processes.filter(has_text="60440")).to_contain_text(t("LXD monitor process", language))
    check_page(page, language)
    save_screenshot(page, f"{language}-gpus-admin")
