"""A seccomp filter for session processes: the kernel interfaces session code has no use for, and
where most of the kernel's privilege escalations of recent years were found, answer ENOSYS.

Without capabilities many of these fail anyway; the filter removes the ones that work unprivileged
(io_uring, userfaultfd, keyrings, perf events, ptrace and cross-process memory access) and keeps
the rest out in case a kernel bug hands a capability back. libseccomp (present wherever systemd
is) compiles it; bubblewrap loads it (`--seccomp FD`) before the session's first instruction, and
libseccomp kills any process that makes a system call of another architecture (i386's int 0x80).

Sockets of any address family but Unix, IPv4, IPv6 and netlink answer EAFNOSUPPORT: AF_VSOCK, for one,
is not confined by the network namespace and reaches the hypervisor's services on a virtual machine.

Two kinds of kernel object escape the caps of a session that runs without a memory cgroup (an
ordinary user's emulator): memfd and System V shared memory pages are counted by no rlimit, and
inotify instances are counted per user, so one session's would exhaust every other's. Where that
holds, those calls answer ENOSYS too (`unconfined_memory`, `shared_user`).
"""

import ctypes
import ctypes.util
import errno
import os

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_CMP_MASKED_EQ = 7
# Unix, IPv4, IPv6, netlink (getifaddrs, which libuv and glibc use, asks over netlink).
ALLOWED_FAMILIES = (1, 2, 10, 16)
# Families below this number are refused one by one (Linux 6.x knows 46; the rest leave room for more).
FAMILY_RANGE = 64
# Only the low 32 bits of the family argument count (it is an int): the filter compares just those.
LOW_32_BITS = 0xFFFFFFFF
WITHOUT_MEMORY_CGROUP = ("memfd_create", "memfd_secret", "shmget")
SHARED_USER = ("inotify_init", "inotify_init1")
DENIED = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "fanotify_init",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "open_by_handle_at", "name_to_handle_at",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "unshare", "setns", "chroot",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "acct", "swapon", "swapoff", "syslog", "quotactl", "vhangup", "reboot", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "lookup_dcookie", "uselib", "ustat", "sysfs", "_sysctl",
    "iopl", "ioperm", "modify_ldt",
)  # fmt: skip


class SeccompUnavailable(RuntimeError):
    """libseccomp is not installed, or refused the filter."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def denied_calls(unconfined_memory: bool, shared_user: bool) -> tuple[str, ...]:
    return (
        *DENIED,
        *(WITHOUT_MEMORY_CGROUP if unconfined_memory else ()),
        *(SHARED_USER if shared_user else ()),
    )


def compile_filter(unconfined_memory: bool = False, shared_user: bool = False) -> bytes:
    """The filter as a BPF program, in the form `bwrap --seccomp` reads."""
    name = ctypes.util.find_library("seccomp")
    if name is None:
        raise SeccompUnavailable("libseccomp is not installed (Debian/Ubuntu: apt-get install libseccomp2)")
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    context = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        raise SeccompUnavailable("libseccomp could not start a filter")
    read, write = os.pipe()
    try:
        for syscall in denied_calls(unconfined_memory, shared_user):
            number = lib.seccomp_syscall_resolve_name(syscall.encode())
            if number < 0:
                continue  # not a system call of this architecture
            if lib.seccomp_rule_add(context, SCMP_ACT_ERRNO | errno.ENOSYS, number, 0) != 0:
                raise SeccompUnavailable(f"libseccomp refused a rule for {syscall}")
        for syscall in ("socket", "socketpair"):
            number = lib.seccomp_syscall_resolve_name(syscall.encode())
            for family in range(FAMILY_RANGE):
                if family in ALLOWED_FAMILIES:
                    continue
                rule = _ArgCmp(0, SCMP_CMP_MASKED_EQ, LOW_32_BITS, family)
                action = SCMP_ACT_ERRNO | errno.EAFNOSUPPORT
                if lib.seccomp_rule_add_array(context, action, number, 1, ctypes.byref(rule)) != 0:
                    raise SeccompUnavailable(f"libseccomp refused a rule for {syscall} of family {family}")
        if lib.seccomp_export_bpf(context, write) != 0:
            raise SeccompUnavailable("libseccomp could not export the filter")
        os.close(write)
        write = -1
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        lib.seccomp_release(context)
        os.close(read)
        if write >= 0:
            os.close(write)
