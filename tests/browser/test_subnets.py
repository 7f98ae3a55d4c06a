"""An administrator reads the subnet list and a subnet's address map."""

import ipaddress

import pytest
from playwright.sync_api import expect

from containers.services import approve_request
from tests.browser.pages import check_page, open_nav, save_screenshot, sign_in, t
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def address_row(page, ip: str):
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=ip, exact=True))


def test_admin_reads_address_map(page, language, admin_user, member, make_request, broker):
    container = approve_request(make_request().pk, admin_user)
    subnet = container.address.subnet
    held_ip = container.address.ip
    free_ip = str(ipaddress.IPv4Address(held_ip) + 1)
    outside_ip = str(ipaddress.IPv4Address(subnet.range_start) - 1)

    sign_in(page, admin_user.username, PASSWORD, language)
    open_nav(page, "Subnets", language)
    row = page.get_by_role("row").filter(has_text=subnet.cidr)
    expect(row).to_contain_text("portalbr0")
    expect(row).to_contain_text("gpu1")
    row.get_by_role("link", name=subnet.name).click()

    heading = t("Addresses of %(name)s (%(cidr)s)", language) % {"name": subnet.name, "cidr": subnet.cidr}
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    held = address_row(page, held_ip)
    expect(held.locator(".badge").first).to_have_text(t("Held", language))
    expect(held.get_by_role("link", name=container.name)).to_be_visible()
    expect(held).to_contain_text(member.username)
    gateway = address_row(page, subnet.gateway)
    expect(gateway).to_contain_text(t("Reserved", language))
    expect(gateway).to_contain_text(t("Gateway", language))
    expect(address_row(page, free_ip)).to_contain_text(t("Free", language))
    expect(address_row(page, outside_ip)).to_contain_text(t("Outside the range", language))
    expect(address_row(page, "198.18.0.255")).to_contain_text(t("Broadcast address", language))
    check_page(page, language)
    save_screenshot(page, f"{language}-subnet-addresses")

    held.get_by_role("link", name=container.name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(container.name)
    check_page(page, language)
