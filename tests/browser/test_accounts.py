"""A new member signs up, signs out and signs in again, in the language they chose on the page."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from accounts.forms import SignupForm
from tests.browser.pages import check_page, choose_language, field, form_field, open_nav, save_screenshot, sign_in, t

pytestmark = pytest.mark.browser

NEW_PASSWORD = "violet-harbour-lantern-93"


def test_signup_then_signin_keeps_language(page, language):
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
    choose_language(page, language)
    check_page(page, language)
    save_screenshot(page, f"{language}-login")

    page.get_by_role("link", name=t("Create an account", language), exact=True).click()
    expect(page.get_by_role("heading", level=1, name=t("Create an account", language))).to_be_visible()
    check_page(page, language)
    form = SignupForm()
    expect(form_field(page, form, "language", language)).to_have_value(language)
    form_field(page, form, "username", language).fill("wang.fang")
    form_field(page, form, "email", language).fill("wang.fang@example.test")
    form_field(page, form, "password1", language).fill(NEW_PASSWORD)
    form_field(page, form, "password2", language).fill(NEW_PASSWORD)
    save_screenshot(page, f"{language}-signup")
    page.get_by_role("button", name=t("Create account", language), exact=True).click()

    welcome = t("Welcome, %(username)s. Your account is ready.", language) % {"username": "wang.fang"}
    expect(page.get_by_role("status")).to_contain_text(welcome)
    expect(page.get_by_role("heading", level=1, name=t("My containers", language))).to_be_visible()
    check_page(page, language)
    user = get_user_model().objects.get(username="wang.fang")
    assert user.language == language
    assert user.email == "wang.fang@example.test"
    assert not user.is_staff

    page.get_by_role("button", name=t("Sign out", language), exact=True).click()
    expect(page.get_by_role("heading", level=1, name=t("Sign in", language))).to_be_visible()
    check_page(page, language)

    sign_in(page, "wang.fang", NEW_PASSWORD, language, switch=False)
    open_nav(page, "Request a container", language)
    expect(page.get_by_role("heading", level=1, name=t("Request a container", language))).to_be_visible()
    open_nav(page, "My containers", language)


def test_wrong_password_is_explained(page, language, member):
    page.goto("/accounts/login/")
    choose_language(page, language)

    field(page, "Username", language).fill(member.username)
    field(page, "Password", language).fill("not-the-password")
    page.get_by_role("button", name=t("Sign in", language), exact=True).click()

    expect(page.get_by_role("alert")).to_have_text(
        t("The username or password is wrong. Check both and try again.", language)
    )
    check_page(page, language)
    expect(field(page, "Username", language)).to_have_value(member.username)
