"""Sign-up and profile forms for lab members."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

User = get_user_model()

LANGUAGE_LABEL = _("Preferred language")
LANGUAGE_HELP = _("The language of the portal's pages and of the e-mails it sends you.")


def validate_unique_email(email: str, exclude_pk: int | None = None) -> None:
    """Raise ValidationError if another account already uses this e-mail address."""
    others = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise forms.ValidationError(_("An account with this e-mail address already exists."), code="duplicate_email")


class SignupForm(UserCreationForm):
    """A new member account: username, e-mail, password checked by Django's validators, language."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "language")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["username"].widget.attrs["autocomplete"] = "username"
        language = self.fields["language"]
        language.label = LANGUAGE_LABEL
        language.help_text = LANGUAGE_HELP
        language.required = True
        language.choices = settings.LANGUAGES

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        validate_unique_email(email)
        return email


class ProfileForm(forms.ModelForm):
    """The details a member may change about their own account."""

    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "language")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        language = self.fields["language"]
        language.label = LANGUAGE_LABEL
        language.help_text = LANGUAGE_HELP
        language.required = True
        language.choices = settings.LANGUAGES

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        validate_unique_email(email, exclude_pk=self.instance.pk)
        return email
