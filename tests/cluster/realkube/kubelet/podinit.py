"""Start one container of a pod the way a runtime does, for the stand-in kubelet (a standalone script).

    python podinit.py SPEC.json

SPEC: {"argv": [...], "env": {...}, "cwd": "/...", "mounts": [{"host": H, "path": P, "readOnly": b}],
       "cgroups": [{"dir": D, "mount": M}], "pid_file": F, "start_error_file": E}

It enters a new mount namespace and a new PID namespace, bind-mounts each volume at its mount
path (so the container sees `/var/run/secrets/kubernetes.io/serviceaccount`, its datastore claim
at the path the pod spec names, ...), mounts a fresh /proc, and forks the container's main process,
which is PID 1 of its namespace: like a real container, it ignores signals it has no handler for,
and when it exits every process it started dies with it. This process stays outside, writes the
main process's host PID to F for the kubelet's signals, and exits with the container's exit code
(128 + N when killed by signal N). An exec failure is written to E and gives exit code 128.
"""

import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWCGROUP = 0x02000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _enc(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def mount(source, target, fstype, flags, data=None) -> None:
    _check(libc.mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data)), f"mount {target}")


def enter_mounts(spec: dict) -> None:
    """A private mount namespace with the pod's volumes, its cgroup and a fresh /proc."""
    # a cgroup namespace too: /proc/self/cgroup says "/" as in a container, where the pod's cgroup is mounted
    _check(libc.unshare(CLONE_NEWNS | (CLONE_NEWCGROUP if spec.get("cgroups") else 0)), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    # sources are opened before mounting (and inside this namespace: a bind source must belong to it),
    # so a mount over /tmp does not hide a volume whose folder lies under /tmp
    sources = [(m, os.open(m["host"], os.O_PATH)) for m in spec["mounts"]]
    for group in spec.get("cgroups") or []:  # the container sees its own limits at the usual paths
        mount(group["dir"], group["mount"], None, MS_BIND)
    for m, fd in sorted(sources, key=lambda pair: pair[0]["path"].rstrip("/").count("/")):  # parents first
        os.makedirs(m["path"], exist_ok=True)
        mount(f"/proc/self/fd/{fd}", m["path"], None, MS_BIND | MS_REC)
        if m.get("readOnly"):
            mount("none", m["path"], None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(fd)
    mount("proc", "/proc", "proc", 0)


def die_with_parent(parent: int | None) -> None:
    """SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG): a killed kubelet leaves no container.
    ``parent``: check it did not die before (None inside a new PID namespace, where it is invisible)."""
    _check(libc.prctl(1, signal.SIGKILL, 0, 0, 0), "prctl")
    if parent is not None and os.getppid() != parent:
        os._exit(137)


def main() -> int:
    die_with_parent(os.getppid())
    spec = json.load(open(sys.argv[1]))
    for group in spec.get("cgroups") or []:  # join the pod's cgroup before anything forks
        with open(os.path.join(group["dir"], "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))
    _check(libc.unshare(CLONE_NEWPID), "unshare")  # takes effect for the child forked below
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    pid = os.fork()
    if pid == 0:  # PID 1 of the container; only it enters the new mount namespace
        os.close(read_end)
        try:
            die_with_parent(None)
            enter_mounts(spec)
            os.makedirs(spec.get("cwd") or "/", exist_ok=True)  # as a runtime creates a missing workingDir
            os.chdir(spec.get("cwd") or "/")
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
        except BaseException as error:  # exec failed: tell the parent, as a runtime's StartError
            os.write(write_end, f"failed to start container process {spec['argv'][0]!r}: {error}".encode())
        os._exit(128)
    os.close(write_end)
    with open(spec["pid_file"], "w") as fh:
        fh.write(str(pid))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the kubelet signals the main process itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    failure = b""
    while chunk := os.read(read_end, 4096):
        failure += chunk
    if failure:
        with open(spec["start_error_file"], "w") as fh:
            fh.write(failure.decode(errors="replace"))
        print(failure.decode(errors="replace"), file=sys.stderr)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
