"""The portal's only connection to LXD, through pylxd.

`LXDHost` wraps one LXD endpoint (a local unix socket or an https URL) and one
LXD project. Every method raises an `LXDError` subclass instead of pylxd or
requests exceptions, so callers handle one family of errors:

- `LXDUnavailable`: the daemon cannot be reached (socket missing, connection
  refused, TLS failure). Transient, so a task may retry.
- `InstanceNotFound`, `SnapshotNotFound`, `InstanceExists`: the named object is
  absent or already there.
- `LXDTimeout`: an operation did not finish in the time given.
- `LXDError`: any other failure reported by LXD.

The text of every error is a short sentence that names the operation and the
instance. It never contains file contents, command output or credentials.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pylxd
import requests
from pylxd import exceptions as pylxd_exceptions

if TYPE_CHECKING:
    from containers.models import Host

logger = logging.getLogger(__name__)

# Longest LXD error text copied into an LXDError message.
MAX_DETAIL_LENGTH = 200
# Seconds between two state polls while waiting for an instance to boot.
POLL_INTERVAL = 0.2
# Seconds a clean stop may take before LXD reports a failure.
STOP_TIMEOUT = 60
# Extra seconds the host waits for an exec operation after the in-container
# `timeout` should have ended the command.
EXEC_GRACE_SECONDS = 15


class LXDError(Exception):
    """A failed LXD operation; str() is a short message that is safe to show people."""


class LXDUnavailable(LXDError):
    """The LXD daemon could not be reached; retrying later may succeed."""


class InstanceExists(LXDError):
    """An instance with the requested name already exists."""


class InstanceNotFound(LXDError):
    """The named instance does not exist in the project."""


class SnapshotNotFound(LXDError):
    """The named snapshot does not exist."""


class LXDTimeout(LXDError):
    """An operation did not finish within its timeout."""


@dataclass
class ExecResult:
    """Exit code and decoded output of a command run inside an instance."""

    exit_code: int
    stdout: str
    stderr: str


def _detail(error: BaseException) -> str:
    """Return LXD's own error text, trimmed to one short line."""
    text = " ".join(str(error).split())
    if len(text) > MAX_DETAIL_LENGTH:
        text = text[: MAX_DETAIL_LENGTH - 3] + "..."
    return text


class LXDHost:
    """One LXD endpoint and project.

    The connection is opened on first use, so constructing an `LXDHost` never
    fails because the daemon is down; the first call raises `LXDUnavailable`.
    """

    def __init__(
        self,
        endpoint: str,
        project: str = "default",
        client_cert: str = "",
        client_key: str = "",
        server_cert: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.project = project or "default"
        self.client_cert = client_cert
        self.client_key = client_key
        self.server_cert = server_cert
        self._connection: pylxd.Client | None = None

    @classmethod
    def for_host(cls, host: Host) -> LXDHost:
        """Build an `LXDHost` from a `containers.models.Host` row."""
        return cls(
            endpoint=host.endpoint,
            project=host.project,
            client_cert=host.client_cert,
            client_key=host.client_key,
            server_cert=host.server_cert,
        )

    def __repr__(self) -> str:
        return f"LXDHost({self.endpoint!r}, project={self.project!r})"

    # Connection and error translation.

    @property
    def _client(self) -> pylxd.Client:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> pylxd.Client:
        if self.endpoint.startswith("/"):
            # pylxd treats a socket path that does not exist as a URL, which
            # fails later with a confusing error, so check it here.
            if not os.path.exists(self.endpoint):
                raise LXDUnavailable(f"LXD socket {self.endpoint} does not exist; is the LXD daemon running?")
            kwargs: dict[str, Any] = {}
        elif self.endpoint.startswith("https://"):
            kwargs = {"verify": self.server_cert or True}
            if self.client_cert and self.client_key:
                kwargs["cert"] = (self.client_cert, self.client_key)
        else:
            raise LXDError(f"LXD endpoint {self.endpoint} is neither a socket path nor an https:// URL.")

        try:
            return pylxd.Client(endpoint=self.endpoint, project=self.project, **kwargs)
        except (pylxd_exceptions.ClientConnectionFailed, requests.exceptions.RequestException, OSError) as error:
            logger.warning("Cannot connect to LXD at %s: %s", self.endpoint, _detail(error))
            raise LXDUnavailable(f"Cannot connect to LXD at {self.endpoint}.") from error
        except pylxd_exceptions.LXDAPIException as error:
            raise LXDError(f"LXD at {self.endpoint} rejected the connection: {_detail(error)}") from error

    @contextmanager
    def _translate(self, action: str, name: str, not_found: type[LXDError] = InstanceNotFound) -> Iterator[None]:
        """Turn pylxd and requests errors raised inside the block into LXDError subclasses.

        `action` is a short phrase such as "start", used in the message
        together with the instance `name`.
        """
        try:
            yield
        except LXDError:
            raise
        except pylxd_exceptions.NotFound as error:
            if not_found is SnapshotNotFound:
                raise SnapshotNotFound(f"Snapshot {name} not found in LXD project {self.project}.") from error
            raise not_found(f"Instance {name} not found in LXD project {self.project} ({action}).") from error
        except pylxd_exceptions.LXDAPIException as error:
            detail = _detail(error)
            if isinstance(error, pylxd_exceptions.Conflict) or "already exists" in detail.lower():
                raise InstanceExists(f"Instance {name} already exists in LXD project {self.project}.") from error
            raise LXDError(f"LXD failed to {action} instance {name}: {detail}") from error
        except (
            pylxd_exceptions.ClientConnectionFailed,
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            ConnectionError,
        ) as error:
            logger.warning("LXD at %s unreachable during %s of %s: %s", self.endpoint, action, name, _detail(error))
            message = f"LXD at {self.endpoint} is unreachable; could not {action} instance {name}."
            raise LXDUnavailable(message) from error

    def _instance_api(self, name: str):
        return self._client.api.instances[name]

    def _wait_operation(self, response: requests.Response, timeout: float | None = None) -> dict:
        """Wait for the background operation that `response` started; return its metadata.

        Raises LXDTimeout when it is still running after `timeout` seconds and
        LXDAPIException (translated by the caller) when it failed.
        """
        body = response.json()
        if body.get("type") != "async":
            return body.get("metadata") or {}
        operation_id = body["operation"].rstrip("/").rsplit("/", 1)[-1]
        params = {"timeout": int(timeout) if timeout is not None else -1}
        wait_response = self._client.api.operations[operation_id].wait.get(params=params)
        metadata = wait_response.json().get("metadata") or {}
        if metadata.get("status") == "Running" or metadata.get("status_code") == 103:
            raise LXDTimeout(f"LXD operation {operation_id} is still running after {timeout} s.")
        if metadata.get("status") == "Failure" or not 200 <= metadata.get("status_code", 200) < 300:
            raise pylxd_exceptions.LXDAPIException(wait_response)
        return metadata

    # Queries.

    def instance_exists(self, name: str) -> bool:
        return self.instance_status(name) is not None

    def instance_status(self, name: str) -> str | None:
        """Return the instance's status ("Running", "Stopped", ...), or None if it does not exist."""
        try:
            with self._translate("read the state of", name):
                response = self._instance_api(name).state.get()
        except InstanceNotFound:
            return None
        return response.json()["metadata"]["status"]

    def instance_config(self, name: str) -> dict[str, str]:
        """Return the instance's own config keys, without those inherited from profiles."""
        with self._translate("read the config of", name):
            metadata = self._instance_api(name).get().json()["metadata"]
        return dict(metadata.get("config") or {})

    def list_instances(self) -> list[str]:
        """Return the names of all instances in this project."""
        with self._translate("list", "*"):
            response = self._client.api.instances.get()
        # Each entry is a URL such as /1.0/instances/NAME?project=PROJECT.
        return sorted(url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] for url in response.json()["metadata"])

    def list_all_instances(self) -> list[tuple[str, str]]:
        """Return (project, name) for every instance in every project of the daemon."""
        with self._translate("list", "*"):
            # The project query parameter must be absent when asking for all projects.
            node = pylxd.client._APINode(
                f"{self._client.api._api_endpoint}/instances", self._client.api.session, project=None
            )
            response = node.get(params={"all-projects": "true", "recursion": "1"})
        return sorted((item.get("project") or "default", item["name"]) for item in response.json()["metadata"])

    def snapshot_exists(self, source: str, snapshot: str) -> bool:
        try:
            with self._translate("read snapshot of", f"{source}/{snapshot}", not_found=SnapshotNotFound):
                self._instance_api(source).snapshots[snapshot].get()
        except SnapshotNotFound:
            return False
        return True

    def ipv4_addresses(self, name: str, nic: str = "eth0") -> list[str]:
        """Return the global IPv4 addresses the instance reports on `nic` (empty when stopped)."""
        with self._translate("read the addresses of", name):
            state = self._instance_api(name).state.get().json()["metadata"]
        interface = (state.get("network") or {}).get(nic) or {}
        return [
            address["address"]
            for address in interface.get("addresses", [])
            if address.get("family") == "inet" and address.get("scope") == "global"
        ]

    # Changes.

    def copy_from_snapshot(self, source: str, snapshot: str, name: str, config: dict[str, str] | None = None) -> None:
        """Create instance `name` as a copy of `source/snapshot`, like `lxc copy SOURCE/SNAPSHOT NAME`.

        The copy gets the source's profiles (LXD would otherwise give it none,
        and so no root disk) and `config` on top of the snapshot's own config.
        """
        with self._translate("copy snapshot to", name):
            try:
                source_data = self._instance_api(source).get().json()["metadata"]
            except pylxd_exceptions.NotFound:
                raise SnapshotNotFound(
                    f"Source instance {source} of snapshot {snapshot} not found in LXD project {self.project}."
                ) from None
            if not self.snapshot_exists(source, snapshot):
                raise SnapshotNotFound(f"Snapshot {source}/{snapshot} not found in LXD project {self.project}.")
            if self.instance_exists(name):
                raise InstanceExists(f"Instance {name} already exists in LXD project {self.project}.")

            request = {
                "name": name,
                "type": source_data.get("type", "container"),
                "profiles": source_data.get("profiles", ["default"]),
                "config": dict(config or {}),
                "source": {"type": "copy", "source": f"{source}/{snapshot}"},
            }
            logger.info("Copying %s/%s to %s in project %s", source, snapshot, name, self.project)
            response = self._client.api.instances.post(json=request)
            self._wait_operation(response)

    def update_config(self, name: str, config: dict[str, str]) -> None:
        """Set the given config keys on the instance, leaving other keys as they are."""
        with self._translate("update the config of", name):
            response = self._instance_api(name).patch(json={"config": config})
            self._wait_operation(response)
        logger.info("Updated config keys %s of %s", sorted(config), name)

    def _change_state(self, name: str, action: str, timeout: int, force: bool) -> None:
        with self._translate(action, name):
            response = self._instance_api(name).state.put(json={"action": action, "timeout": timeout, "force": force})
            self._wait_operation(response)

    def start(self, name: str) -> None:
        if self.instance_status(name) == "Running":
            return
        self._change_state(name, "start", timeout=STOP_TIMEOUT, force=False)
        logger.info("Started %s in project %s", name, self.project)

    def stop(self, name: str, force: bool = False) -> None:
        status = self.instance_status(name)
        if status is None:
            raise InstanceNotFound(f"Instance {name} not found in LXD project {self.project} (stop).")
        if status == "Stopped":
            return
        self._change_state(name, "stop", timeout=STOP_TIMEOUT, force=force)
        logger.info("Stopped %s in project %s (force=%s)", name, self.project, force)

    def restart(self, name: str, timeout: int = 60) -> None:
        """Restart the instance through the LXD API, forcing it if a clean restart fails.

        A clean restart signals the instance's init to shut down and waits up to
        `timeout` seconds for that.
        """
        try:
            self._change_state(name, "restart", timeout=timeout, force=False)
        except (InstanceNotFound, LXDUnavailable):
            raise
        except LXDError as error:
            logger.warning("Clean restart of %s failed, forcing it: %s", name, error)
            self._change_state(name, "restart", timeout=timeout, force=True)
        logger.info("Restarted %s in project %s", name, self.project)

    def wait_running(self, name: str, timeout: int) -> None:
        """Wait until the instance runs and its systemd has finished booting.

        Boot is finished when `systemctl is-system-running --wait` prints
        "running" or "degraded" (a failed unit does not stop a member from
        logging in). Raises LXDTimeout after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.instance_status(name)
            if status is None:
                raise InstanceNotFound(f"Instance {name} not found in LXD project {self.project} (wait for boot).")
            if status == "Running":
                break
            if time.monotonic() >= deadline:
                raise LXDTimeout(f"Instance {name} is {status}, not Running, after {timeout} s.")
            time.sleep(POLL_INTERVAL)

        system_state = ""
        while True:
            remaining = int(deadline - time.monotonic())
            if remaining < 1:
                raise LXDTimeout(f"Instance {name} did not finish booting in {timeout} s (systemd: {system_state}).")
            try:
                result = self.execute(name, ["systemctl", "is-system-running", "--wait"], timeout=remaining)
            except LXDTimeout:
                raise LXDTimeout(f"Instance {name} did not finish booting in {timeout} s.") from None
            except LXDError as error:
                # Exec can fail while the instance is still starting or restarting.
                logger.debug("Boot check of %s failed, retrying: %s", name, error)
                system_state = "unreachable"
            else:
                system_state = result.stdout.strip() or "unknown"
                if system_state in ("running", "degraded"):
                    return
                if system_state == "stopping":
                    raise LXDError(f"Instance {name} is shutting down instead of booting.")
            time.sleep(POLL_INTERVAL)

    def push_file(self, name: str, path: str, content: bytes, mode: int = 0o600, uid: int = 0, gid: int = 0) -> None:
        """Write `content` to `path` in the instance, replacing any file there, with this mode and owner."""
        headers = {
            "X-LXD-mode": f"{mode:04o}",
            "X-LXD-uid": str(uid),
            "X-LXD-gid": str(gid),
            "X-LXD-type": "file",
            "X-LXD-write": "overwrite",
            "Content-Type": "application/octet-stream",
        }
        with self._translate(f"write {path} in", name):
            files = self._instance_api(name).files
            # LXD keeps the mode and owner of a file it overwrites, so remove
            # the old file first: a secret must never inherit a looser mode.
            try:
                files.delete(params={"path": path})
            except pylxd_exceptions.NotFound:
                pass
            files.post(params={"path": path}, data=content, headers=headers)
        logger.info("Pushed %s to %s (%d bytes, mode %04o)", path, name, len(content), mode)

    def read_file(self, name: str, path: str) -> bytes:
        with self._translate(f"read {path} from", name):
            try:
                response = self._instance_api(name).files.get(params={"path": path}, is_api=False)
            except pylxd_exceptions.NotFound:
                if not self.instance_exists(name):
                    raise
                raise LXDError(f"File {path} not found in instance {name}.") from None
        return response.content

    def execute(self, name: str, argv: list[str], timeout: int | None = None) -> ExecResult:
        """Run `argv` inside the instance, with no shell, and return its exit code and output.

        LXD records the output to log files, which are read and deleted after
        the command ends, so no websocket is involved. With a `timeout` the
        command runs under coreutils `timeout` inside the instance, which
        sends SIGTERM after `timeout` seconds and SIGKILL 5 s later. Raises
        LXDTimeout when the command did not end in time.
        """
        if isinstance(argv, str) or not argv or not all(isinstance(part, str) for part in argv):
            raise TypeError("argv must be a non-empty list of strings")
        command = list(argv)
        if timeout is not None:
            # NOTE: relies on `timeout` from coreutils inside the instance, as in every Debian or Ubuntu image.
            command = ["timeout", "--kill-after=5", str(int(timeout)), *command]

        started = time.monotonic()
        with self._translate(f"run {argv[0]} in", name):
            response = self._instance_api(name).exec.post(
                json={
                    "command": command,
                    "environment": {},
                    "wait-for-websocket": False,
                    "interactive": False,
                    "record-output": True,
                }
            )
            wait_timeout = None if timeout is None else int(timeout) + EXEC_GRACE_SECONDS
            try:
                metadata = self._wait_operation(response, timeout=wait_timeout)
            except LXDTimeout:
                raise LXDTimeout(f"Command {argv[0]} in instance {name} did not end within {timeout} s.") from None
            result_metadata = metadata.get("metadata") or {}
            exit_code = int(result_metadata.get("return", -1))
            outputs = result_metadata.get("output") or {}
            stdout = self._fetch_exec_log(outputs.get("1"))
            stderr = self._fetch_exec_log(outputs.get("2"))

        elapsed = time.monotonic() - started
        if timeout is not None and exit_code in (124, 137) and elapsed >= timeout:
            raise LXDTimeout(f"Command {argv[0]} in instance {name} did not end within {timeout} s.")
        logger.debug("Ran %s in %s: exit code %s", argv[0], name, exit_code)
        return ExecResult(exit_code=exit_code, stdout=stdout, stderr=stderr)

    def _fetch_exec_log(self, url: str | None) -> str:
        """Read one recorded exec output log and delete it from the daemon."""
        if not url:
            return ""
        # The URL is an absolute API path such as /1.0/instances/NAME/logs/exec_....stdout.
        node = self._client.api
        for part in url.split("/")[2:]:
            node = node[quote(part, safe="")] if part else node
        content = node.get(is_api=False).content
        try:
            node.delete()
        except pylxd_exceptions.LXDAPIException as error:
            logger.warning("Could not delete exec log %s: %s", url, _detail(error))
        return content.decode("utf-8", errors="replace")

    def delete(self, name: str) -> None:
        """Stop (forcibly) and delete the instance with its snapshots; an absent instance is fine."""
        status = self.instance_status(name)
        if status is None:
            return
        if status != "Stopped":
            try:
                self._change_state(name, "stop", timeout=STOP_TIMEOUT, force=True)
            except InstanceNotFound:
                return
        try:
            with self._translate("delete", name):
                response = self._instance_api(name).delete()
                self._wait_operation(response)
        except InstanceNotFound:
            return
        logger.info("Deleted %s from project %s", name, self.project)
