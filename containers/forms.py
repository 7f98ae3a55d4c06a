"""Forms for members' requests and administrators' decisions.

Every field rejects text that is too long, contains control characters or
arrived as invalid UTF-8, instead of trimming or repairing it. The inputs
carry no `maxlength` attribute, because browsers silently cut pasted text at
that length and the member would never see the error.
"""

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from containers.models import AuditEntry, Container, ContainerRequest, Template
from containers.passwords import make_crypt_hash
from containers.validators import (
    MAX_PASSWORD_LENGTH,
    parse_ssh_keys,
    validate_instance_name,
    validate_no_control_characters,
    validate_username,
)
from notifications.services import notify_request_submitted

# An RSA key of 16384 bits takes about 2,800 characters; 20 such keys fit.
MAX_SSH_KEYS_LENGTH = 60_000
MAX_REASON_LENGTH = 1000

# Django decodes form data with errors="replace", so bytes that are not valid
# UTF-8 arrive as U+FFFD REPLACEMENT CHARACTER.
REPLACEMENT_CHARACTER = "\ufffd"


def validate_utf8(value: str) -> None:
    if REPLACEMENT_CHARACTER in value:
        raise ValidationError(
            _("This field contains characters that are not valid UTF-8; type it again instead of pasting it."),
            code="invalid_utf8",
        )


def validate_single_line(value: str) -> None:
    validate_utf8(value)
    validate_no_control_characters(value)


def validate_multiline(value: str) -> None:
    validate_utf8(value)
    validate_no_control_characters(value, allow_newlines=True)


class SingleLineField(forms.CharField):
    default_validators = [validate_single_line]


class MultilineField(forms.CharField):
    default_validators = [validate_multiline]

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4}))
        super().__init__(**kwargs)


def name_taken_error(name: str) -> ValidationError:
    return ValidationError(
        _("The name %(name)s is already taken; choose another one."), code="name_taken", params={"name": name}
    )


def drop_maxlength(form: forms.Form) -> None:
    for field in form.fields.values():
        field.widget.attrs.pop("maxlength", None)


class ContainerRequestForm(forms.Form):
    """A member's request for a container, checked in full before anything is saved."""

    name = SingleLineField(
        label=_("Container name"),
        max_length=63,
        validators=[validate_instance_name],
        help_text=_("Letters, digits and hyphens, starting with a letter; also the container's hostname."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    username = SingleLineField(
        label=_("Linux username"),
        max_length=32,
        help_text=_("Your login inside the container: lowercase letters, digits, underscores and hyphens."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    password = SingleLineField(
        label=_("Password"),
        required=False,
        strip=False,
        max_length=MAX_PASSWORD_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("For logging in and for sudo inside the container. Leave empty to use only SSH keys."),
    )
    password_confirm = SingleLineField(
        label=_("Password again"),
        required=False,
        strip=False,
        max_length=MAX_PASSWORD_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    ssh_keys = MultilineField(
        label=_("SSH public keys"),
        required=False,
        max_length=MAX_SSH_KEYS_LENGTH,
        help_text=_("One key per line, as in your ~/.ssh/id_ed25519.pub file. Never paste a private key."),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "none"}),
    )
    template = forms.ModelChoiceField(
        label=_("Template"),
        queryset=Template.objects.filter(is_active=True),
        empty_label=None,
        help_text=_("The system image your container is copied from."),
    )
    reason = MultilineField(
        label=_("Reason"),
        max_length=MAX_REASON_LENGTH,
        help_text=_("What you will use the container for, in a sentence or two."),
    )

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member
        drop_maxlength(self)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        live_container = Container.objects.filter(name__iexact=name).exclude(status=Container.Status.REMOVED)
        pending_request = ContainerRequest.objects.filter(name__iexact=name, status=ContainerRequest.Status.PENDING)
        if live_container.exists() or pending_request.exists():
            raise name_taken_error(name)
        return name

    def clean_ssh_keys(self) -> str:
        return "\n".join(parse_ssh_keys(self.cleaned_data["ssh_keys"]))

    @sensitive_variables("password", "confirmation")
    def clean(self) -> dict:
        cleaned = super().clean()
        template = cleaned.get("template")
        name = cleaned.get("name")
        username = cleaned.get("username")

        if template and name and name.lower() == template.source.lower():
            self.add_error(
                "name",
                name_taken_error(name),
            )
        if username is not None and "username" not in self.errors:
            try:
                validate_username(username, template.reserved_username_set() if template else frozenset())
            except ValidationError as error:
                self.add_error("username", error)

        self.clean_password_pair(cleaned)
        if not cleaned.get("password") and not cleaned.get("ssh_keys") and not self.has_login_errors():
            raise ValidationError(
                _("Give a password, an SSH public key, or both, so that you can log in."), code="no_login"
            )
        return cleaned

    def has_login_errors(self) -> bool:
        return any(field in self.errors for field in ("password", "password_confirm", "ssh_keys"))

    @sensitive_variables("password", "confirmation")
    def clean_password_pair(self, cleaned: dict) -> None:
        password = cleaned.get("password", "")
        confirmation = cleaned.get("password_confirm", "")
        if "password" in self.errors or "password_confirm" in self.errors:
            return
        if password != confirmation:
            self.add_error(
                "password_confirm",
                ValidationError(_("The two passwords do not match."), code="password_mismatch"),
            )
            return
        if password:
            try:
                password_validation.validate_password(password, user=self.member)
            except ValidationError as error:
                self.add_error("password", error)

    @sensitive_variables("password")
    def save(self) -> ContainerRequest | None:
        """Create the pending request, with the password turned into a crypt hash.

        Two requests for one name can pass clean_name() at the same moment.
        The database's unique constraint on pending names lets only one of
        them be saved, so the other gets None and an error on the name field.
        """
        data = self.cleaned_data
        password = data.get("password", "")
        request = ContainerRequest(
            member=self.member,
            template=data["template"],
            name=data["name"],
            username=data["username"],
            password_hash=make_crypt_hash(password) if password else "",
            ssh_keys=data["ssh_keys"],
            reason=data["reason"],
        )
        try:
            with transaction.atomic():
                request.save()
                AuditEntry.objects.create(actor=self.member, action="requested", request=request)
                # Rows only; the e-mails are sent by a task queued after commit.
                notify_request_submitted(request.pk)
        except IntegrityError:
            self.add_error(
                "name",
                name_taken_error(data["name"]),
            )
            return None
        return request


class ApproveForm(forms.Form):
    ip = forms.GenericIPAddressField(label=_("IP address"), protocol="IPv4", required=False)


class RejectForm(forms.Form):
    reason = MultilineField(
        label=_("Reason for rejecting"),
        max_length=MAX_REASON_LENGTH,
        error_messages={"required": _("Give a reason, so the member knows what to change.")},
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        drop_maxlength(self)
