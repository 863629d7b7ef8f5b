"""The sandbox's rules as data: the seccomp filter's tables, when egress can be given, where sessions' control
groups go, and whose scratch root the emulator will use. Nothing here starts a process."""

from pathlib import Path

import pytest

from dynamic_sessions.emulator.sandbox import cgroups, network, seccomp
from dynamic_sessions.emulator.sandbox.scratch import Scratch, ScratchUnusable

ORDINARY_UID = 65534  # nobody: an ordinary user with no files of its own


@pytest.mark.parametrize(
    ("unconfined_memory", "shared_user", "extra"),
    [
        (False, False, ()),
        (True, False, seccomp.WITHOUT_MEMORY_CGROUP),
        (False, True, seccomp.SHARED_USER),
        (True, True, seccomp.WITHOUT_MEMORY_CGROUP + seccomp.SHARED_USER),
    ],
)
def test_memfd_and_inotify_are_denied_only_where_no_cgroup_or_uid_of_its_own_confines_them(
    unconfined_memory, shared_user, extra
):
    denied = seccomp.denied_calls(unconfined_memory, shared_user)
    assert set(denied) == set(seccomp.DENIED) | set(extra)
    assert len(denied) == len(set(denied))  # each call named once


def test_the_escalation_paths_of_unprivileged_code_are_denied_and_ordinary_calls_are_not():
    for name in ("io_uring_setup", "userfaultfd", "keyctl", "bpf", "perf_event_open", "ptrace", "unshare", "mount"):
        assert name in seccomp.DENIED
    for name in ("read", "write", "clone", "execve", "socket", "memfd_create", "inotify_init1"):
        assert name not in seccomp.DENIED


def test_only_unix_ip_and_netlink_sockets_are_allowed():
    assert seccomp.ALLOWED_FAMILIES == (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
    assert all(family < seccomp.FAMILY_RANGE for family in seccomp.ALLOWED_FAMILIES)
    assert seccomp.FAMILY_RANGE > 46  # every family Linux 6.x knows (AF_VSOCK is 40) is refused


def test_egress_without_slirp4netns_is_refused_naming_it_and_how_to_install_it():
    why = network.unusable_reason(None, as_root=True)
    assert why is not None and "slirp4netns" in why and "apt-get install slirp4netns" in why and "loopback" in why


def test_egress_as_root_with_slirp4netns_is_usable():
    assert network.unusable_reason("/usr/bin/slirp4netns", as_root=True) is None


def test_egress_as_a_user_without_the_tun_device_is_refused_naming_it(monkeypatch):
    monkeypatch.setattr(network, "TUN", "/nonexistent/net/tun")
    why = network.unusable_reason("/usr/bin/slirp4netns", as_root=False)
    assert why is not None and "/nonexistent/net/tun" in why


def test_the_cloud_metadata_endpoints_are_fenced():
    assert set(network.FENCED) == {"169.254.0.0/16", "168.63.129.16/32"}


@pytest.mark.parametrize(
    ("name", "limits"),
    [
        ("memory", {"memory.limit_in_bytes": "100", "memory.memsw.limit_in_bytes": "100"}),
        ("pids", {"pids.max": "7"}),
        ("cpu", {}),
        ("v2", {"memory.max": "100", "memory.swap.max": "0", "pids.max": "7"}),
    ],
)
def test_each_controller_sets_the_caps_it_holds(name, limits):
    assert cgroups.Controller(name, Path("/x")).limits(memory=100, tasks=7) == limits


def test_on_cgroup_v2_a_refused_cpu_controller_keeps_the_memory_and_task_caps(monkeypatch, tmp_path):
    unified = tmp_path / "unified"
    (unified / "emulator").mkdir(parents=True)
    (unified / "emulator" / "cgroup.controllers").write_text("cpu memory pids\n")
    tried: list[tuple[str, ...]] = []

    def usable(parent: Path, wanted: tuple[str, ...]) -> bool:
        tried.append(wanted)
        return "cpu" not in wanted  # as when a real-time task sits in the subtree

    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path / "no-v1")
    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"v2": "/emulator"})
    monkeypatch.setattr(cgroups, "_v2_mount", lambda: unified)
    monkeypatch.setattr(cgroups, "_usable_v2", usable)
    found, why_not = cgroups.discover()
    assert found == [cgroups.Controller("v2", unified / "emulator")]
    assert set(why_not) == {"cpu"}
    assert tried == [("memory", "pids", "cpu"), ("memory", "pids")]


def test_without_any_writable_cgroup_every_cap_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path / "no-v1")
    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"memory": "/", "pids": "/", "cpu": "/"})
    monkeypatch.setattr(cgroups, "_v2_mount", lambda: None)
    found, why_not = cgroups.discover()
    assert found == []
    assert set(why_not) == set(cgroups.KINDS)
    assert all("cgroup the emulator may write" in why for why in why_not.values())


def test_a_scratch_root_owned_by_another_user_is_refused(tmp_path):
    import os

    planted = tmp_path / "planted"
    planted.mkdir(mode=0o777)
    if os.geteuid() == 0:
        os.chown(planted, ORDINARY_UID, ORDINARY_UID)  # someone else's
    else:
        planted.chmod(0o777)  # anyone's
    with pytest.raises(ScratchUnusable, match="not a directory owned by uid"):
        Scratch(planted)


def test_a_scratch_root_that_is_a_file_is_refused(tmp_path):
    planted = tmp_path / "planted"
    planted.write_text("")
    with pytest.raises(ScratchUnusable, match="remove it, or point TMPDIR elsewhere"):
        Scratch(planted)
