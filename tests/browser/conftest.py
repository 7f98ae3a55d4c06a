"""Fixtures for the browser tests: Debian's Chromium through Playwright, against the live server.

- `browser` (package): one headless Chromium from /usr/bin/chromium (never a
  browser that Playwright downloads), shared by the tests of this folder. Playwright's
  `launch()` gives it a new temporary profile directory.
- `new_page` (function): returns a function that opens a page in a context
  of its own (own cookies), on the live server, with a given browser locale
  and window width. Every page is watched: a JavaScript console error, an
  uncaught exception or a request to any origin but the live server's fails
  the test (see `pytest_runtest_call`). Requests to other origins are also
  aborted, so nothing leaves the machine.
- `page`: one watched page. In a test that takes `language`, the browser's
  own language is the other one, so the test must use the page's language
  switch to reach `language`.
- `language`: parametrize a test with it to run it in English and in
  Simplified Chinese.
- `lab`: a subnet, a host and a template in the database, on the real LXD
  socket and the test project.
- `make_request`: a factory of pending requests by `member` for that template.
- `gpu_host`: a GPU host whose samples come from a recorded nvidia-smi report.
- `broker`: the Redis queue of the tests' Celery broker, emptied before and
  after the test, for tests whose approvals queue a job that no worker takes.

Playwright's sync API runs an asyncio event loop in the test thread, and
Django refuses ORM calls from a thread with a running loop. The tests use
the ORM between browser steps, so `allow_orm_beside_playwright` sets
DJANGO_ALLOW_ASYNC_UNSAFE while this package's tests run, and the browser
is package-scoped so that Playwright's loop is gone when other tests run.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

from containers.models import Container, ContainerRequest, Host, Subnet, Template
from containers.passwords import make_crypt_hash
from gpus.models import Gpu
from gpus.tasks import collect_gpu_samples
from tests.gpus.conftest import fixture_text, hybrid, v2, write_proc_tree, write_stand_in_nvidia_smi
from tests.lxd_fixtures import *  # noqa: F403 (lxd_host, lxd_cleanup for the provisioning test)
from tests.lxd_fixtures import LXD_SOCKET, TEMPLATE_SNAPSHOT, TEMPLATE_SOURCE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
LANGUAGES = ["en", "zh-hans"]
# The browser language each test language starts from: the other one.
OTHER_BROWSER_LOCALE = {"en": "zh-CN", "zh-hans": "en-US"}
DESKTOP_WIDTH = 1440
PHONE_WIDTH = 375
WINDOW_HEIGHT = 900
# How long a step waits for the page (a click's navigation, an element to
# appear) before it fails. The provisioning test waits longer for the worker.
DEFAULT_TIMEOUT_MS = 10_000

LXD_PROJECT = os.environ.get("PORTAL_TEST_LXD_PROJECT", "portal-test")
ADDRESS_RANGE = os.environ.get("PORTAL_TEST_ADDRESS_RANGE", "198.18.0.160-198.18.0.199")


@dataclass
class PageProblems:
    """What went wrong in one page while a test drove it."""

    page: Page
    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location
            self.console_errors.append(f"{message.text} ({location.get('url', '')}:{location.get('lineNumber', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.page_errors.append(str(error))

    def on_request(self, request: Request) -> None:
        if not is_same_origin(request.url, self.origin):
            self.foreign_requests.append(request.url)

    def report(self) -> str:
        if not self.page.is_closed():
            # Wait for the requests a page makes after its load event, then
            # make one round trip so the events still on their way arrive.
            self.page.wait_for_load_state("networkidle")
            self.page.evaluate("0")
        lines = []
        lines += [f"console error: {text}" for text in self.console_errors]
        lines += [f"page error: {text}" for text in self.page_errors]
        lines += [f"request outside {self.origin}: {url}" for url in self.foreign_requests]
        return "\n".join(lines)


def is_same_origin(url: str, origin: str) -> bool:
    """Return whether `url` goes to `origin`; data: and blob: URLs never leave the browser."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return f"{parts.scheme}://{parts.netloc}" == origin


@pytest.fixture(scope="package", autouse=True)
def allow_orm_beside_playwright() -> Iterator[None]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(allow_orm_beside_playwright) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """Hash portal passwords with a cheap hasher: these tests sign in often and do not test hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture
def new_page(browser, live_server, request) -> Iterator[Callable[..., Page]]:
    origin = live_server.url.rstrip("/")
    contexts = []
    watched: list[PageProblems] = []
    request.node.browser_pages = watched

    def open_page(locale: str = "en-US", width: int = DESKTOP_WIDTH) -> Page:
        context = browser.new_context(
            base_url=origin,
            locale=locale,
            viewport={"width": width, "height": WINDOW_HEIGHT},
            permissions=["clipboard-read", "clipboard-write"],
        )
        contexts.append(context)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.route(lambda url: not is_same_origin(url, origin), abort_foreign)
        page = context.new_page()
        problems = PageProblems(page, origin)
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)
        page.on("request", problems.on_request)
        watched.append(problems)
        return page

    yield open_page

    for context in contexts:
        context.close()


def abort_foreign(route: Route) -> None:
    route.abort("blockedbyclient")


@pytest.fixture
def page(new_page, request) -> Page:
    if "language" in request.fixturenames:
        return new_page(locale=OTHER_BROWSER_LOCALE[request.getfixturevalue("language")])
    return new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail a browser test whose pages logged an error or reached outside the live server."""
    result = yield
    problems = [watch.report() for watch in getattr(item, "browser_pages", [])]
    problems = [text for text in problems if text]
    if problems:
        pytest.fail("The browser reported problems:\n" + "\n".join(problems), pytrace=False)
    return result


@pytest.fixture
def lab(db) -> Template:
    """Return an offered template on a host in the test subnet, on the real LXD socket and test project."""
    first, last = ADDRESS_RANGE.split("-")
    subnet = Subnet.objects.create(
        name="lab",
        cidr="198.18.0.0/24",
        gateway="198.18.0.1",
        dns_servers=["198.18.0.1"],
        bridge="portalbr0",
        range_start=first,
        range_end=last,
    )
    host = Host.objects.create(
        name="gpu1",
        endpoint=LXD_SOCKET,
        project=LXD_PROJECT,
        address="198.18.0.1",
        subnet=subnet,
        collects_gpu=False,
    )
    return Template.objects.create(
        name="Debian 12",
        host=host,
        source=TEMPLATE_SOURCE,
        snapshot=TEMPLATE_SNAPSHOT,
        default_user="tmp",
        cpu_limit=2,
        memory_limit="1GiB",
    )


@pytest.fixture
def broker():
    """The Redis database of the Celery broker, with the task queue emptied before and after."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = (settings.CELERY_TASK_DEFAULT_QUEUE, "unacked", "unacked_index")
    client.delete(*keys)
    yield client
    client.delete(*keys)
    client.close()


CONTAINER_PASSWORD = "Lab-gpu-container-7f3k"


@pytest.fixture
def make_request(lab, member):
    """Return a factory of pending requests for the lab's template, by `member` unless another user is given."""

    def make(name: str = "alice-gpu", username: str = "alice", user=None, reason: str = "") -> ContainerRequest:
        return ContainerRequest.objects.create(
            member=user or member,
            template=lab,
            name=name,
            username=username,
            password_hash=make_crypt_hash(CONTAINER_PASSWORD),
            reason=reason or "Fine-tuning a speech model for my thesis.",
        )

    return make


# Where the processes of r470-rtx3090x4-minor-order.xml run: PID 48213 in the
# member's container (10240 MiB on GPU 0, 3072 MiB on GPU 1), 48377 in an
# instance of another LXD project, 2311 on the host itself.
GPU_PROC_CGROUPS = {
    2311: v2("/system.slice/display-manager.service"),
    48213: hybrid("/lxc.payload.zhangsan/user.slice"),
    48377: v2("/lxc.payload.lab_wang/init.scope"),
    60440: v2("/lxc.monitor.zhangsan"),
}


@pytest.fixture
def gpu_host(settings, tmp_path, member) -> Host:
    """A GPU host with the member's container `zhangsan`, after one collection of a recorded four-GPU report.

    The collection is the gpus app's own task, run on a stand-in nvidia-smi
    that prints the recorded XML and on a /proc tree written for its PIDs.
    """
    host = Host.objects.create(name="gpu2", endpoint=str(tmp_path / "no-lxd.socket"), project="default")
    template = Template.objects.create(name="Ubuntu 22.04 CUDA", host=host)
    request = ContainerRequest.objects.create(
        member=member,
        template=template,
        name="zhangsan",
        username="zhangsan",
        reason="Speech recognition experiments.",
        status=ContainerRequest.Status.APPROVED,
    )
    Container.objects.create(
        request=request,
        owner=member,
        host=host,
        template=template,
        name="zhangsan",
        username="zhangsan",
        status=Container.Status.READY,
    )
    report = fixture_text("r470-rtx3090x4-minor-order.xml")
    settings.NVIDIA_SMI_PATH = str(write_stand_in_nvidia_smi(tmp_path / "bin", stdout=report))
    settings.PROC_ROOT = str(write_proc_tree(tmp_path / "proc", GPU_PROC_CGROUPS, uids={2311: 0}))

    collect_gpu_samples(host.pk)

    assert Gpu.objects.filter(host=host).count() == 4
    return host
