"""Fixtures for tests of the host boundary: the LXD ones from tests.lxd_fixtures."""

from tests.lxd_fixtures import *  # noqa: F403
