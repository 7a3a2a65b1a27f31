"""Confine the current process before it runs a model's code (Linux; each layer where the OS
allows it). Called by the sandbox child first thing, before numpy or the model is imported.

Layers, each reported by name so the report says exactly which held:
- rlimits: CPU seconds (then SIGKILL), address space, file size, no core dumps;
- `no_new_privs`, and the child dies with its parent;
- network: a new, empty network namespace (unshare), a seccomp filter that kills the process
  when it creates any socket but a local (AF_UNIX) one or sets up io_uring, and Landlock's TCP
  bind/connect rules (ABI >= 4);
- writes: Landlock lets the process create, change or remove files only inside its temp folder
  (and write /dev/null); reads stay allowed (Python must read its libraries);
- signals: Landlock scoping (ABI >= 6) stops it signalling processes outside the sandbox.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_RULE_PATH_BENEATH = 1

# Landlock filesystem rights that change the filesystem (reads and execution stay allowed).
_FS_WRITE_V1 = (1 << 1) | sum(1 << b for b in range(4, 13))  # write file, remove, make *
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_NET_TCP = (1 << 0) | (1 << 1)  # ABI 4: bind, connect
_SCOPE = (1 << 0) | (1 << 1)  # ABI 6: abstract unix sockets, signals

# seccomp: (audit arch, socket, io_uring_setup, ptrace, x32 bit)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425, 101, 0x40000000),
    "aarch64": (0xC00000B7, 198, 425, 117, None),
}
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_EPERM = 0x00050000 | 1
_AF_UNIX = 1


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def set_rlimits(cpu_s: int, memory_mb: int, file_mb: int) -> list[str]:
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the timeout still holds
        return []
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    memory = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return [f"cpu {cpu_s} s", f"memory {memory_mb} MiB", f"files {file_mb} MiB"]


def _prctl(libc: ctypes.CDLL, option: int, arg: int) -> bool:
    return int(libc.prctl(option, arg, 0, 0, 0)) == 0


def new_network_namespace(libc: ctypes.CDLL) -> bool:
    """An empty network namespace (only a downed loopback); needs CAP_SYS_ADMIN, or
    unprivileged user namespaces (and a single-threaded process)."""
    if int(libc.unshare(CLONE_NEWNET)) == 0:
        return True
    return int(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)) == 0


def _bpf(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def seccomp_filter() -> bytes | None:
    """The BPF program (as bytes), or None on an architecture it does not know."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit, sys_socket, sys_uring, sys_ptrace, x32 = arch
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    prog = [
        _bpf(ld, 4),  # seccomp_data.arch
        _bpf(jeq, audit, 1, 0),
        _bpf(ret, _RET_KILL_PROCESS),  # another ABI (i386 int 0x80): nothing legitimate here
        _bpf(ld, 0),  # seccomp_data.nr
    ]
    if x32 is not None:
        prog += [_bpf(jge, x32, 0, 1), _bpf(ret, _RET_KILL_PROCESS)]
    prog += [
        _bpf(jeq, sys_uring, 0, 1),
        _bpf(ret, _RET_KILL_PROCESS),
        _bpf(jeq, sys_ptrace, 0, 1),
        _bpf(ret, _RET_EPERM),
        _bpf(jeq, sys_socket, 0, 4),  # not socket(): on to the final allow
        _bpf(ld, 16),  # args[0], the socket's domain (low 32 bits)
        _bpf(jeq, _AF_UNIX, 0, 1),
        _bpf(ret, _RET_ALLOW),
        _bpf(ret, _RET_KILL_PROCESS),
        _bpf(ret, _RET_ALLOW),
    ]
    return b"".join(prog)


def install_seccomp(libc: ctypes.CDLL) -> bool:
    program = seccomp_filter()
    if program is None:
        return False
    n = len(program) // 8
    buffer = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(n, ctypes.cast(buffer, ctypes.c_void_p))
    return int(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)) == 0


def landlock(libc: ctypes.CDLL, writable: str) -> tuple[bool, bool, bool]:
    """(writes confined, TCP cut, signals scoped) by Landlock, as far as the kernel's ABI goes."""
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = int(syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    if abi < 1:
        return False, False, False
    fs = _FS_WRITE_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    net = _NET_TCP if abi >= 4 else 0
    scoped = _SCOPE if abi >= 6 else 0
    attr = struct.pack("<QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    attr_buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = int(syscall(_SYS_LANDLOCK_CREATE_RULESET, attr_buffer, len(attr), 0))
    if ruleset < 0:
        return False, False, False
    try:
        file_rights = (1 << 1) | (_FS_TRUNCATE if abi >= 3 else 0)
        for path, rights in ((writable, fs), ("/dev/null", file_rights)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("<Qi", rights, fd)
                rule_buffer = ctypes.create_string_buffer(rule, len(rule))
                if (
                    int(
                        syscall(
                            _SYS_LANDLOCK_ADD_RULE,
                            ruleset,
                            _LANDLOCK_RULE_PATH_BENEATH,
                            rule_buffer,
                            0,
                        )
                    )
                    != 0
                ):
                    return False, False, False
            finally:
                os.close(fd)
        if int(syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)) != 0:
            return False, False, False
    finally:
        os.close(ruleset)
    return True, bool(net), bool(scoped)


def confine(writable: str, cpu_s: int, memory_mb: int, file_mb: int) -> dict[str, list[str]]:
    """Apply every layer the OS allows; {"limits": [...], "network": [...], "writes": [...],
    "signals": [...]}: which layer holds each guarantee (an empty list: none)."""
    out: dict[str, list[str]] = {"limits": [], "network": [], "writes": [], "signals": []}
    out["limits"] = set_rlimits(cpu_s, memory_mb, file_mb)
    if platform.system() != "Linux":
        return out
    libc = _libc()
    import signal

    _prctl(libc, PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if new_network_namespace(libc):
        out["network"].append("netns")
    if not _prctl(libc, PR_SET_NO_NEW_PRIVS, 1):
        return out
    writes, tcp, scoped = landlock(libc, writable)
    if writes:
        out["writes"].append("landlock")
    if tcp:
        out["network"].append("landlock")
    if scoped:
        out["signals"].append("landlock")
    if install_seccomp(libc):
        out["network"].append("seccomp")
    return out
