"""Sign-up, sign-in, profile and the language switch."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views import i18n as i18n_views
from django.views.decorators.debug import sensitive_post_parameters

from accounts.forms import ProfileForm, SignupForm

User = get_user_model()


def set_language_cookie(response: HttpResponse, language: str) -> None:
    """Set the cookie that LocaleMiddleware reads, with the same options as Django's set_language."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def use_language(response: HttpResponse, language: str) -> None:
    """Switch this response and the member's next requests to `language`."""
    translation.activate(language)
    set_language_cookie(response, language)


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")

    form = SignupForm(request.POST or None, initial={"language": translation.get_language()})
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        translation.activate(user.language)
        messages.success(request, _("Welcome, %(username)s. Your account is ready.") % {"username": user.username})
        response = redirect("home")
        use_language(response, user.language)
        return response

    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's sign-in, which also brings back the member's saved language.

    A member who never chose a language keeps the one this browser uses,
    and it is saved to their account.
    """

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        if user.language:
            use_language(response, user.language)
        else:
            current = translation.get_language()
            if current in dict(settings.LANGUAGES):
                User.objects.filter(pk=user.pk).update(language=current)
        return response


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        translation.activate(user.language)
        messages.success(request, _("Your profile has been saved."))
        response = redirect("accounts:profile")
        use_language(response, user.language)
        return response

    return render(request, "accounts/profile.html", {"form": form})


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language, which also saves the choice on a signed-in member's account."""
    response = i18n_views.set_language(request)

    language = request.POST.get(i18n_views.LANGUAGE_QUERY_PARAMETER, "")
    if request.method == "POST" and request.user.is_authenticated and language in dict(settings.LANGUAGES):
        User.objects.filter(pk=request.user.pk).update(language=language)
    return response
