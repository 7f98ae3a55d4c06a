"""Mapping a host PID to its LXD instance from /proc/PID/cgroup."""

import os

import pytest

from hostops.cgroups import OwnerKind, classify_cgroup, read_process_owner, split_project
from tests.gpus.conftest import hybrid, v2, write_proc_tree


def owner_of(text, instances=None):
    owner = classify_cgroup(text, instances)
    return owner.kind, owner.project, owner.instance


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (v2("/lxc.payload.zhangsan/init.scope"), ("default", "zhangsan")),
        (v2("/lxc.payload.zhangsan/.lxc"), ("default", "zhangsan")),
        (v2("/lxc.payload.zhangsan/system.slice/ssh.service"), ("default", "zhangsan")),
        ("12:devices:/lxc.payload.zhangsan\n11:rdma:/lxc.payload.zhangsan\n", ("default", "zhangsan")),
        (hybrid("/lxc.payload.zhangsan"), ("default", "zhangsan")),
        (hybrid("/", unified="/lxc.payload.zhangsan"), ("default", "zhangsan")),
        (hybrid("/lxc/zhangsan"), ("default", "zhangsan")),
        ("4:memory:/lxc.payload/zhangsan\n1:name=systemd:/lxc.payload/zhangsan/init.scope\n", ("default", "zhangsan")),
        (v2("/lxc.payload.GPU-Box1/user.slice"), ("default", "GPU-Box1")),
    ],
)
def test_container_paths_name_the_instance(text, expected):
    assert owner_of(text) == (OwnerKind.CONTAINER, *expected)


@pytest.mark.parametrize(
    ("cgroup_name", "expected"),
    [
        ("lab_zhangsan", ("lab", "zhangsan")),
        ("team_a_zhangsan", ("team_a", "zhangsan")),
        ("portal-test-h4b_c1", ("portal-test-h4b", "c1")),
        ("zhangsan", ("default", "zhangsan")),
    ],
)
def test_project_prefix_splits_at_last_underscore(cgroup_name, expected):
    assert split_project(cgroup_name) == expected
    assert owner_of(v2(f"/lxc.payload.{cgroup_name}")) == (OwnerKind.CONTAINER, *expected)


def test_clash_suffix_removed_when_only_base_exists():
    instances = {("default", "zhangsan")}

    assert owner_of(v2("/lxc.payload.zhangsan-1"), instances)[2] == "zhangsan"
    assert owner_of(v2("/lxc.payload.zhangsan-2/init.scope"), instances)[2] == "zhangsan"


def test_clash_suffix_kept_when_instance_has_that_name():
    instances = {("default", "node-2"), ("default", "node")}

    assert owner_of(v2("/lxc.payload.node-2"), instances)[2] == "node-2"


def test_clash_suffix_kept_without_instance_list():
    assert owner_of(v2("/lxc.payload.zhangsan-1"), None)[2] == "zhangsan-1"


def test_clash_suffix_resolved_within_project():
    instances = {("lab", "c1"), ("default", "c1-1")}

    assert owner_of(v2("/lxc.payload.lab_c1-1"), instances) == (OwnerKind.CONTAINER, "lab", "c1")
    assert owner_of(v2("/lxc.payload.c1-1"), instances) == (OwnerKind.CONTAINER, "default", "c1-1")


def test_unknown_name_with_suffix_is_kept():
    assert owner_of(v2("/lxc.payload.gone-1"), {("default", "other")})[2] == "gone-1"


@pytest.mark.parametrize(
    "text",
    [v2("/lxc.monitor.zhangsan"), hybrid("/lxc.monitor.lab_zhangsan"), "3:cpuset:/lxc.monitor/zhangsan\n"],
)
def test_lxd_monitor_is_not_a_container(text):
    assert classify_cgroup(text).kind == OwnerKind.LXD_MONITOR


def test_monitor_names_its_instance():
    assert owner_of(v2("/lxc.monitor.lab_zhangsan")) == (OwnerKind.LXD_MONITOR, "lab", "zhangsan")


@pytest.mark.parametrize(
    "text",
    [v2("/.lxc"), v2("/../.."), v2("/../../lxc.payload.zhangsan"), hybrid("/../../user.slice")],
)
def test_attach_helper_and_foreign_namespace_are_unknown(text):
    assert classify_cgroup(text).kind == OwnerKind.UNKNOWN


@pytest.mark.parametrize(
    "text",
    [
        v2("/user.slice/user-1000.slice/session-3.scope"),
        v2("/"),
        hybrid("/system.slice/lxc.service"),
        "4:memory:/process_api/3235c9f042763b07bcb431a0ccb8abea\n0::/\n",
    ],
)
def test_other_paths_are_host(text):
    assert classify_cgroup(text).kind == OwnerKind.HOST


def test_container_line_wins_over_monitor_line():
    text = "5:devices:/lxc.monitor.zhangsan\n4:memory:/lxc.payload.zhangsan\n"

    assert classify_cgroup(text).kind == OwnerKind.CONTAINER


def test_outermost_container_wins_for_nested_containers():
    assert owner_of(v2("/lxc.payload.outer/.lxc/lxc.payload.inner")) == (OwnerKind.CONTAINER, "default", "outer")


def test_malformed_lines_are_ignored():
    assert owner_of("garbage\n\n0::/lxc.payload.zhangsan\n") == (OwnerKind.CONTAINER, "default", "zhangsan")


def test_host_process_reports_unix_user(tmp_path):
    write_proc_tree(tmp_path, {100: v2("/user.slice"), 101: v2("/user.slice")}, uids={100: 0, 101: 54321})

    root_owned = read_process_owner(100, tmp_path)
    numbered = read_process_owner(101, tmp_path)

    assert (root_owned.kind, root_owned.user) == (OwnerKind.HOST, "root")
    assert numbered.user == "54321"


def test_container_process_has_no_user(tmp_path):
    write_proc_tree(tmp_path, {100: hybrid("/lxc.payload.c1")}, uids={100: 1000})

    owner = read_process_owner(100, tmp_path)

    assert owner.kind == OwnerKind.CONTAINER
    assert owner.user is None
    assert owner.cgroup == "/lxc.payload.c1"


def test_vanished_pid_returns_none(tmp_path):
    assert read_process_owner(4242, tmp_path) is None


def test_this_process_is_a_host_process():
    owner = read_process_owner(os.getpid())

    assert owner.kind == OwnerKind.HOST
    assert owner.user
