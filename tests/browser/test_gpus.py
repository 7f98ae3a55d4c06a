"""The GPU overview as a member and as an administrator see it (data: the `gpu_host` fixture)."""

import pytest
from django.utils import translation
from playwright.sync_api import expect

from gpus.models import Gpu
from gpus.templatetags.gpu_format import mib
from tests.browser.pages import check_page, open_nav, save_screenshot, sign_in, t
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def formatted_mib(amount: int, language: str) -> str:
    with translation.override(language):
        return mib(amount)


def test_member_reads_gpu_overview(page, language, member, gpu_host):
    sign_in(page, member.username, PASSWORD, language)
    open_nav(page, "GPUs", language)

    host_card = page.get_by_role("region", name=gpu_host.name)
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

    host_card = page.get_by_role("region", name=gpu_host.name)
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
