"""Input rules for everything a member types that ends up on a host.

These run in the form and again in the worker: a value that reaches LXD or the
init script has passed them twice.
"""

import re

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# LXD instance names: letters, digits and hyphens, at most 63 characters, not
# starting with a digit or hyphen and not ending with a hyphen (a hostname label).
INSTANCE_NAME_RE = re.compile(r"^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

# Names that useradd accepts on Debian and Ubuntu with the default NAME_REGEX, less
# the trailing "$" that only machine accounts use.
USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

# Accounts present on Debian and Ubuntu images; the template's own list of
# accounts below UID 1000 is added to these.
SYSTEM_USERNAMES = frozenset(
    """root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc gnats
    nobody nogroup systemd-network systemd-resolve systemd-timesync systemd-journal messagebus
    syslog _apt tss uuidd tcpdump sshd landscape pollinate lxd admin sudo adm users staff wheel
    ubuntu debian polkitd dnsmasq usbmux rtkit avahi colord""".split()
)

SSH_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
MIN_RSA_BITS = 2048
MAX_SSH_KEYS = 20
MAX_PASSWORD_LENGTH = 128

CONTROL_CHARACTERS_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def validate_instance_name(value: str) -> None:
    if not INSTANCE_NAME_RE.match(value):
        raise ValidationError(
            _("Use 1 to 63 letters, digits and hyphens, starting with a letter and not ending with a hyphen."),
            code="invalid_instance_name",
        )


def validate_username(value: str, reserved: set[str] | frozenset[str] = frozenset()) -> None:
    if not USERNAME_RE.match(value):
        raise ValidationError(
            _(
                "Use up to 32 lowercase letters, digits, underscores and hyphens, "
                "starting with a lowercase letter or an underscore."
            ),
            code="invalid_username",
        )
    if value in SYSTEM_USERNAMES or value in reserved:
        raise ValidationError(
            _("%(username)s is a system account name; choose another username."),
            code="system_username",
            params={"username": value},
        )


def validate_no_control_characters(value: str, allow_newlines: bool = False) -> None:
    text = value.replace("\n", "").replace("\r", "") if allow_newlines else value
    if CONTROL_CHARACTERS_RE.search(text) or "\t" in text or (not allow_newlines and ("\n" in text or "\r" in text)):
        raise ValidationError(_("Remove the control characters from this field."), code="control_characters")


def parse_ssh_keys(text: str) -> list[str]:
    """Parse one OpenSSH public key per line and return the lines, normalised.

    Each key is loaded with `cryptography`, so a malformed blob is caught, not
    only a malformed type name. Comments are kept; empty lines are dropped.
    Raise ValidationError naming the first bad line.
    """
    keys: list[str] = []
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
            raise ValidationError(
                _("Line %(number)s is not an ed25519, ECDSA or RSA public key in OpenSSH format."),
                code="invalid_ssh_key",
                params={"number": number},
            )
        try:
            key = load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValidationError(
                _("The key on line %(number)s could not be read; copy the whole line from your .pub file."),
                code="invalid_ssh_key",
                params={"number": number},
            ) from None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            raise ValidationError(
                _("The RSA key on line %(number)s has %(bits)s bits; use at least 2048, or an ed25519 key."),
                code="weak_ssh_key",
                params={"number": number, "bits": key.key_size},
            )
        if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
            raise ValidationError(
                _("Line %(number)s is not an ed25519, ECDSA or RSA public key in OpenSSH format."),
                code="invalid_ssh_key",
                params={"number": number},
            )
        keys.append(line)
    if len(keys) > MAX_SSH_KEYS:
        raise ValidationError(
            _("Give at most %(count)s keys."), code="too_many_ssh_keys", params={"count": MAX_SSH_KEYS}
        )
    return keys
