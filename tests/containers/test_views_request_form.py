"""The member's request form: what it saves, and every input it rejects without writing anything."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.urls import reverse
from django.utils.html import escape
from passlib.hash import sha512_crypt

from containers.forms import ContainerRequestForm
from containers.models import AuditEntry, Container, ContainerRequest
from notifications.models import EmailNotification

pytestmark = pytest.mark.django_db

URL = reverse("containers:request_create")
CONTAINER_PASSWORD = "Quiet-Lantern-93-Orbit"


def openssh_public_key(private_key, comment: str = "alice@laptop") -> str:
    blob = private_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{blob.decode()} {comment}"


ED25519_KEY = openssh_public_key(ed25519.Ed25519PrivateKey.generate())
WEAK_RSA_KEY = openssh_public_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))


@pytest.fixture
def valid_data(template) -> dict:
    return {
        "name": "alice-box",
        "username": "alice",
        "password": CONTAINER_PASSWORD,
        "password_confirm": CONTAINER_PASSWORD,
        "ssh_keys": ED25519_KEY,
        "template": str(template.pk),
        "reason": "Training a model for my thesis.",
    }


def assert_nothing_written(requests_before: int = 0) -> None:
    assert ContainerRequest.objects.count() == requests_before
    assert not AuditEntry.objects.filter(action="requested").exists()
    assert not EmailNotification.objects.exists()


def test_form_page_shows_every_field(member_client, template):
    response = member_client.get(URL)

    assert response.status_code == 200
    content = response.content.decode()
    for field in ("name", "username", "password", "password_confirm", "ssh_keys", "template", "reason"):
        assert f'name="{field}"' in content
        assert f'for="id_{field}"' in content
    assert "maxlength" not in content


def test_form_page_redirects_anonymous_to_login(client, template):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_anonymous_post_writes_nothing(client, valid_data):
    response = client.post(URL, valid_data)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert_nothing_written()


def test_valid_request_is_saved_pending(member_client, member, valid_data, template):
    response = member_client.post(URL, valid_data)

    request = ContainerRequest.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("containers:request_detail", args=[request.pk])
    assert request.member == member
    assert request.status == ContainerRequest.Status.PENDING
    assert request.name == "alice-box"
    assert request.username == "alice"
    assert request.template == template
    assert request.ssh_keys == ED25519_KEY
    assert AuditEntry.objects.filter(action="requested", request=request, actor=member).exists()


def test_password_is_stored_only_as_crypt_hash(member_client, valid_data):
    member_client.post(URL, valid_data)

    request = ContainerRequest.objects.get()
    assert request.password_hash.startswith("$6$")
    assert request.password_hash != CONTAINER_PASSWORD
    assert sha512_crypt.verify(CONTAINER_PASSWORD, request.password_hash)
    for value in ContainerRequest.objects.values_list(flat=False).get():
        assert CONTAINER_PASSWORD not in str(value)
    for detail in AuditEntry.objects.values_list("detail", flat=True):
        assert CONTAINER_PASSWORD not in detail


def test_password_not_in_any_response(member_client, valid_data):
    response = member_client.post(URL, valid_data, follow=True)

    assert response.status_code == 200
    assert CONTAINER_PASSWORD not in response.content.decode()


def test_password_not_echoed_on_error(member_client, valid_data):
    valid_data["name"] = "1-bad-name"

    response = member_client.post(URL, valid_data)

    assert response.status_code == 200
    assert CONTAINER_PASSWORD not in response.content.decode()
    assert_nothing_written()


def test_ssh_key_only_request_has_no_hash(member_client, valid_data):
    valid_data["password"] = valid_data["password_confirm"] = ""

    member_client.post(URL, valid_data)

    assert ContainerRequest.objects.get().password_hash == ""


def test_password_only_request_has_no_keys(member_client, valid_data):
    valid_data["ssh_keys"] = ""

    member_client.post(URL, valid_data)

    request = ContainerRequest.objects.get()
    assert request.ssh_keys == ""
    assert sha512_crypt.verify(CONTAINER_PASSWORD, request.password_hash)


def test_new_request_notifies_administrators(member_client, valid_data, admin_user):
    member_client.post(URL, valid_data)

    notification = EmailNotification.objects.get()
    assert notification.recipient == admin_user
    assert notification.kind == EmailNotification.Kind.REQUEST_SUBMITTED
    assert CONTAINER_PASSWORD not in notification.body


# Each case: the fields changed from valid data, the field that shows the error, and the message.
BAD_INPUT = [
    ({"name": "1box"}, "name", "Use 1 to 63 letters, digits and hyphens"),
    ({"name": "box-"}, "name", "Use 1 to 63 letters, digits and hyphens"),
    ({"name": "my box"}, "name", "Use 1 to 63 letters, digits and hyphens"),
    ({"name": "a" * 64}, "name", "Ensure this value has at most 63 characters (it has 64)."),
    ({"name": "template"}, "name", "The name template is already taken"),
    ({"name": ""}, "name", "This field is required."),
    ({"username": "Alice"}, "username", "Use up to 32 lowercase letters"),
    ({"username": "9lives"}, "username", "Use up to 32 lowercase letters"),
    ({"username": "root"}, "username", "root is a system account name"),
    ({"username": "sshd"}, "username", "sshd is a system account name"),
    ({"username": "a" * 33}, "username", "Ensure this value has at most 32 characters (it has 33)."),
    ({"username": "ali\x00ce"}, "username", "Null characters are not allowed."),
    ({"password_confirm": "Quiet-Lantern-93-Orbiт"}, "password_confirm", "The two passwords do not match."),
    ({"password": "Sh0rt!", "password_confirm": "Sh0rt!"}, "password", "This password is too short."),
    ({"password": "password123", "password_confirm": "password123"}, "password", "This password is too common."),
    ({"password": "48213957602", "password_confirm": "48213957602"}, "password", "This password is entirely numeric."),
    (
        {"password": "Aa1-" * 32 + "x", "password_confirm": "Aa1-" * 32 + "x"},
        "password",
        "Ensure this value has at most 128 characters (it has 129).",
    ),
    (
        {"password": "Quiet\x07Lantern-93", "password_confirm": "Quiet\x07Lantern-93"},
        "password",
        "Remove the control characters from this field.",
    ),
    ({"ssh_keys": "not a key"}, "ssh_keys", "Line 1 is not an ed25519, ECDSA or RSA public key"),
    ({"ssh_keys": "ssh-ed25519 AAAAnot-base64"}, "ssh_keys", "The key on line 1 could not be read"),
    ({"ssh_keys": WEAK_RSA_KEY}, "ssh_keys", "has 1024 bits; use at least 2048"),
    ({"ssh_keys": f"{ED25519_KEY}\n-----BEGIN OPENSSH PRIVATE KEY-----"}, "ssh_keys", "Line 2 is not an ed25519"),
    ({"ssh_keys": "\n".join([ED25519_KEY] * 21)}, "ssh_keys", "Give at most 20 keys."),
    ({"ssh_keys": ED25519_KEY + "\x1b[31m"}, "ssh_keys", "Remove the control characters from this field."),
    ({"reason": ""}, "reason", "This field is required."),
    ({"reason": "x" * 1001}, "reason", "Ensure this value has at most 1000 characters (it has 1001)."),
    ({"reason": "For my thesis\x08"}, "reason", "Remove the control characters from this field."),
    ({"reason": "For my\tthesis"}, "reason", "Remove the control characters from this field."),
    ({"template": "999999"}, "template", "Select a valid choice."),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_INPUT)
def test_bad_input_rejected_with_message(member_client, valid_data, changes, field, message):
    valid_data.update(changes)

    response = member_client.post(URL, valid_data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert any(message in error for error in errors[field]), errors[field]
    assert escape(message) in response.content.decode()
    assert_nothing_written()


def test_neither_password_nor_key_rejected(member_client, valid_data):
    valid_data.update(password="", password_confirm="", ssh_keys="")

    response = member_client.post(URL, valid_data)

    assert response.status_code == 200
    assert "Give a password, an SSH public key, or both, so that you can log in." in response.content.decode()
    assert_nothing_written()


def test_template_reserved_username_rejected(member_client, valid_data, template):
    template.reserved_usernames = "postgres\nslurm\n"
    template.save()
    valid_data["username"] = "slurm"

    response = member_client.post(URL, valid_data)

    assert "slurm is a system account name; choose another username." in response.context["form"].errors["username"]
    assert_nothing_written()


def test_inactive_template_rejected(member_client, valid_data, template):
    template.is_active = False
    template.save()

    response = member_client.post(URL, valid_data)

    assert "template" in response.context["form"].errors
    assert_nothing_written()


def test_name_of_pending_request_rejected(member_client, valid_data, make_request, other_member):
    make_request(name="Alice-Box", user=other_member, username="bob")

    response = member_client.post(URL, valid_data)

    assert "The name alice-box is already taken; choose another one." in response.context["form"].errors["name"]
    assert ContainerRequest.objects.count() == 1


def test_name_of_live_container_rejected(member_client, valid_data, make_request, admin_user):
    from containers.services import approve_request

    approve_request(make_request(status=ContainerRequest.Status.PENDING).pk, admin_user)

    response = member_client.post(URL, valid_data)

    assert "The name alice-box is already taken; choose another one." in response.context["form"].errors["name"]
    assert ContainerRequest.objects.count() == 1


def test_name_of_removed_container_allowed(member_client, valid_data, make_request, admin_user):
    from containers.services import approve_request

    container = approve_request(make_request().pk, admin_user)
    Container.objects.filter(pk=container.pk).update(status=Container.Status.REMOVED)

    response = member_client.post(URL, valid_data)

    assert response.status_code == 302
    assert ContainerRequest.objects.filter(status=ContainerRequest.Status.PENDING).count() == 1


def test_invalid_utf8_rejected(member_client, valid_data):
    body = "&".join(f"{key}={value}" for key, value in valid_data.items() if key not in ("reason", "ssh_keys"))
    body += "&reason=For%20my%20thesis%FF%FE"

    response = member_client.post(URL, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert "are not valid UTF-8" in response.context["form"].errors["reason"][0]
    assert_nothing_written()


def test_name_taken_between_check_and_save(member, valid_data, make_request, other_member):
    form = ContainerRequestForm(valid_data, member=member)
    assert form.is_valid()
    make_request(name="alice-box", user=other_member, username="bob")

    saved = form.save()

    assert saved is None
    assert "The name alice-box is already taken; choose another one." in form.errors["name"]
    assert ContainerRequest.objects.count() == 1


def test_request_form_errors_in_chinese(member_client, template):
    response = member_client.post(
        reverse("containers:request_create"),
        {"name": "1box", "username": "root", "template": template.pk, "reason": ""},
        headers={"accept-language": "zh-Hans"},
    )

    content = response.content.decode()
    assert "请使用 1 到 63 个字母、数字和连字符" in content
    assert "root 是系统账号名称，请换一个用户名。" in content
    assert "请填写密码或 SSH 公钥" in content
