"""The init script on its own, in a fresh copy of the template, with hostile and repeated input."""

import pytest
from django.core.exceptions import ValidationError

from containers.passwords import make_crypt_hash
from containers.provisioning_steps import INIT_DIR, INIT_SCRIPT
from containers.validators import validate_username
from tests.lxd_fixtures import TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE

pytestmark = pytest.mark.lxd

GOOD_VALUES = {
    "OLD_USER": "tmp",
    "NEW_USER": "zhang",
    "HOST_NAME": "placeholder",
    "ADDRESS": "198.18.0.199",
    "PREFIX": "24",
    "GATEWAY": "198.18.0.1",
    "DNS": "198.18.0.1",
}
MARKERS = ("/tmp/pwned", "/pwned", "/root/pwned")


@pytest.fixture
def fresh_copy(lxd_host, lxd_cleanup) -> str:
    name = lxd_cleanup.new_name("s")
    lxd_host.copy_from_snapshot(TEMPLATE_SOURCE, TEMPLATE_SNAPSHOT, name)
    lxd_host.start(name)
    return name


def push_and_run(lxd_host, name: str, values: dict[str, str], password_hash: str = "", keys: str = ""):
    lxd_host.execute(name, ["install", "-d", "-m", "0700", INIT_DIR])
    lxd_host.push_file(name, f"{INIT_DIR}/init-container.sh", INIT_SCRIPT.read_bytes(), mode=0o700)
    lxd_host.push_file(name, f"{INIT_DIR}/values", "".join(f"{k}={v}\n" for k, v in values.items()).encode())
    lxd_host.push_file(name, f"{INIT_DIR}/password-hash", password_hash.encode())
    lxd_host.push_file(name, f"{INIT_DIR}/authorized_keys", keys.encode())
    return lxd_host.execute(name, ["/bin/bash", f"{INIT_DIR}/init-container.sh", INIT_DIR], timeout=120)


def assert_no_marker_files(lxd_host, name: str) -> None:
    for path in MARKERS:
        assert lxd_host.execute(name, ["test", "-e", path]).exit_code == 1, path


@pytest.mark.parametrize(
    "value",
    ["$(touch /tmp/pwned)", "a`touch /tmp/pwned`", "a;touch /tmp/pwned", "a && touch /tmp/pwned", "a$IFS"],
)
def test_validator_rejects_username_with_shell_syntax(value):
    with pytest.raises(ValidationError):
        validate_username(value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("NEW_USER", "$(touch /tmp/pwned)", "NEW_USER is not a valid username"),
        ("NEW_USER", "z`touch /tmp/pwned`", "NEW_USER is not a valid username"),
        ("OLD_USER", "tmp;touch /tmp/pwned", "OLD_USER is not a valid username"),
        ("HOST_NAME", "box$(touch /pwned)", "HOST_NAME is not a valid host name"),
        ("ADDRESS", "198.18.0.199/24$(touch /tmp/pwned)", "ADDRESS is not an IPv4 address"),
        ("ADDRESS", "198.18.0.256", "ADDRESS is not an IPv4 address"),
        ("GATEWAY", "198.18.0.1\\ntouch", "GATEWAY is not an IPv4 address"),
        ("PREFIX", "24;touch /tmp/pwned", "PREFIX must be between 8 and 30"),
        ("PREFIX", "31", "PREFIX must be between 8 and 30"),
        ("DNS", "198.18.0.1,$(touch /tmp/pwned)", "DNS contains an entry"),
    ],
)
def test_script_rejects_hostile_value_without_running_it(lxd_host, fresh_copy, key, value, message):
    result = push_and_run(lxd_host, fresh_copy, {**GOOD_VALUES, key: value})

    assert result.exit_code == 1
    assert message in result.stderr
    assert_no_marker_files(lxd_host, fresh_copy)
    # Nothing was changed, and the inputs are gone all the same.
    assert lxd_host.execute(fresh_copy, ["getent", "passwd", "tmp"]).exit_code == 0
    assert lxd_host.execute(fresh_copy, ["test", "-e", f"{INIT_DIR}/values"]).exit_code == 1


def test_script_rejects_unknown_key(lxd_host, fresh_copy):
    result = push_and_run(lxd_host, fresh_copy, {**GOOD_VALUES, "PATH": "/tmp"})

    assert result.exit_code == 1
    assert "unknown key" in result.stderr


def test_script_rejects_malformed_password_hash(lxd_host, fresh_copy):
    result = push_and_run(lxd_host, fresh_copy, GOOD_VALUES, password_hash="zhang:$(touch /tmp/pwned)")

    assert result.exit_code == 1
    assert "password-hash is not" in result.stderr
    assert_no_marker_files(lxd_host, fresh_copy)


def test_script_rejects_key_file_with_options(lxd_host, fresh_copy):
    keys = (
        'command="touch /tmp/pwned" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n'
    )

    result = push_and_run(lxd_host, fresh_copy, GOOD_VALUES, keys=keys)

    assert result.exit_code == 1
    assert "authorized_keys contains a line" in result.stderr


def test_script_twice_gives_same_result(lxd_host, fresh_copy):
    values = {**GOOD_VALUES, "HOST_NAME": fresh_copy}
    password_hash = make_crypt_hash("Second-run-password-1")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl zhang@laptop\n"

    first = push_and_run(lxd_host, fresh_copy, values, password_hash, key)
    second = push_and_run(lxd_host, fresh_copy, values, password_hash, key)

    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert "renamed user tmp to zhang" in first.stdout
    assert "user tmp was already renamed to zhang" in second.stdout
    assert lxd_host.execute(fresh_copy, ["getent", "passwd", "zhang"]).stdout.split(":")[5] == "/home/zhang"
    assert lxd_host.execute(fresh_copy, ["test", "-e", "/home/tmp"]).exit_code == 1
    assert lxd_host.read_file(fresh_copy, "/home/zhang/.ssh/authorized_keys").decode() == key
    assert lxd_host.read_file(fresh_copy, "/etc/hostname").decode() == f"{fresh_copy}\n"
    hosts = lxd_host.read_file(fresh_copy, "/etc/hosts").decode()
    assert hosts.count(f"127.0.1.1\t{fresh_copy}") == 1
    netplan = lxd_host.read_file(fresh_copy, "/etc/netplan/50-portal.yaml").decode()
    assert "addresses: [198.18.0.199/24]" in netplan
    assert "to: default" in netplan
    assert "via: 198.18.0.1" in netplan
    assert "gateway4" not in netplan
    # The template's own eth0 file is set aside, so netplan reads one eth0 configuration.
    listing = lxd_host.execute(fresh_copy, ["ls", "/etc/netplan"]).stdout.split()
    assert [entry for entry in listing if entry.endswith(".yaml")] == ["50-portal.yaml"]


def test_script_finishes_rename_interrupted_before_group(lxd_host, fresh_copy):
    # A first run that stopped right after usermod renamed the user, before the group.
    lxd_host.execute(fresh_copy, ["usermod", "-l", "zhang", "-d", "/home/zhang", "-m", "tmp"])

    result = push_and_run(lxd_host, fresh_copy, {**GOOD_VALUES, "HOST_NAME": fresh_copy})

    assert result.exit_code == 0, result.stderr
    assert "renamed group tmp to zhang" in result.stdout
    assert lxd_host.execute(fresh_copy, ["getent", "group", "tmp"]).exit_code == 2
    assert lxd_host.execute(fresh_copy, ["id", "-gn", "zhang"]).stdout.strip() == "zhang"
