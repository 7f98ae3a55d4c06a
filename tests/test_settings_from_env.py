"""A bad value in the environment stops the start with a message naming the variable."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

BAD_VALUES = [
    ("GPU_SAMPLE_INTERVAL", "thirty"),
    ("GPU_SAMPLE_INTERVAL", "0"),
    ("DEBUG", "maybe"),
    ("PROVISIONING_LEASE_SECONDS", "-5"),
]


def start_django(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(extra_env)
    env["PORTAL_ENV_FILE"] = "/dev/null"
    env["DJANGO_SETTINGS_MODULE"] = "portal.test_settings"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_names_variable(name, value):
    result = start_django({name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]


def test_missing_secret_key_names_variable():
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env["PORTAL_ENV_FILE"] = "/dev/null"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd="/",
        env=env | {"PYTHONPATH": str(settings.BASE_DIR)},
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_good_values_start():
    result = start_django({"GPU_SAMPLE_INTERVAL": "15", "DEBUG": "false"})

    assert result.returncode == 0, result.stderr
