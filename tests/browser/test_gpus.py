"""The GPU overview as a member and as an administrator see it (data: the `gpu_host` fixture)."""

import pytest
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import expect

from containers.models import Container
from gpus.models import Gpu, GpuProcess
from gpus.templatetags.gpu_format import mib
from tests.browser.conftest import DESKTOP_WIDTH, PHONE_WIDTH
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


# Each x label's box against its drawing's box, and its font size, in CSS pixels.
X_LABEL_BOXES = """figure => {
  const drawing = figure.querySelector("svg");
  const svg = drawing.getBoundingClientRect();
  const scale = svg.width / drawing.viewBox.baseVal.width;
  return [...figure.querySelectorAll(".x-label")].map(label => {
    const box = label.getBoundingClientRect();
    return {text: label.textContent, left: box.left - svg.left, right: svg.right - box.right,
            size: parseFloat(getComputedStyle(label).fontSize) * scale};
  });
}"""


@pytest.mark.parametrize("width", [PHONE_WIDTH, DESKTOP_WIDTH])
def test_container_charts_are_readable(new_page, member, gpu_host, width):
    # One collection gives `zhangsan` one sample per GPU: 10240 MiB on GPU 0, 3072 MiB on GPU 1.
    page = new_page(width=width)
    sign_in(page, member.username, PASSWORD, "en", switch=False)
    page.goto(reverse("gpus:container_gpu", args=[Container.objects.get(name="zhangsan").pk]))

    day_memory = page.locator('figure[data-chart="day_memory"]')
    expect(day_memory.locator(".sample-dot")).to_have_count(2)
    expect(day_memory.locator(".chart-empty")).to_be_hidden()
    memory_ticks = day_memory.locator(".y-label").all_text_contents()
    assert memory_ticks == ["0 GiB", "5 GiB", "10 GiB"]
    utilization_ticks = page.locator('figure[data-chart="day_utilization"] .y-label').all_text_contents()
    assert utilization_ticks == ["0 %", "25 %", "50 %", "75 %", "100 %"]

    for chart in page.locator("figure[data-chart]").all():
        labels = chart.evaluate(X_LABEL_BOXES)
        assert len(labels) >= 2
        if width == PHONE_WIDTH:
            assert len(labels) <= 5
        for label in labels:
            assert label["left"] >= 0, label
            assert label["right"] >= 0, label
            assert label["size"] >= 12, label
    save_screenshot(page, f"en-gpus-container-charts-{width}")


def test_container_charts_without_samples_say_so(new_page, member, gpu_host):
    container = Container.objects.get(name="zhangsan")
    container.gpu_samples.all().delete()
    # The charts also cover the GPUs where the container holds memory now.
    GpuProcess.objects.filter(container=container).delete()
    page = new_page(width=PHONE_WIDTH)
    sign_in(page, member.username, PASSWORD, "en", switch=False)
    page.goto(reverse("gpus:container_gpu", args=[container.pk]))

    expect(page.locator("figure[data-chart] svg")).to_have_count(0)
    expect(page.get_by_text(t("No data for this period.", "en"))).to_have_count(4)
    for note in page.get_by_text(t("No data for this period.", "en")).all():
        expect(note).to_be_visible()
