"""Build (once) the control-plane binary from tests/cluster/controlplane with the Go toolchain.

The binary is cached in `.cache/controlplane/` (git-ignored) under a key made of go.mod, go.sum
and main.go, so it is rebuilt only when they change. Where Go is missing, `find_or_build` says so
in one line (the caller skips the tier); a failed build is an error with the build's output.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / "tests" / "cluster" / "controlplane"
CACHE = REPO / ".cache" / "controlplane"


class Unavailable(Exception):
    """The control plane cannot be had on this machine (the message says why, in one line)."""


KUBERNETES_VERSION = "v1.36.3"  # the k8s.io/kubernetes release in go.mod: what /version and kubectl report
_MAJOR, _MINOR = KUBERNETES_VERSION[1:].split(".")[:2]
LDFLAGS = " ".join(
    ["-s", "-w"]
    + [
        f"-X {pkg}.{name}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for name, value in (
            ("gitVersion", KUBERNETES_VERSION),
            ("gitMajor", _MAJOR),
            ("gitMinor", _MINOR),
            ("gitTreeState", "clean"),
        )
    ]
)


def _key() -> str:
    digest = hashlib.sha256(LDFLAGS.encode())
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((MODULE / name).read_bytes())
    return digest.hexdigest()[:16]


def binary_path() -> Path:
    return CACHE / f"controlplane-{_key()}"


def find_or_build(log=print) -> Path:
    """The cached binary, built now if missing. Raises Unavailable when Go is absent."""
    override = os.environ.get("PJOB_CONTROLPLANE_BIN")
    if override:
        return Path(override)
    target = binary_path()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise Unavailable("no Go toolchain on PATH: the real control plane cannot be built")
    CACHE.mkdir(parents=True, exist_ok=True)
    log(
        f"building the test control plane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, "
        f"kubectl) into {target.relative_to(REPO)}: a cold build takes several minutes ..."
    )
    started = time.monotonic()
    partial = target.with_suffix(".partial")
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    proc = subprocess.run(
        [go, "build", "-trimpath", f"-ldflags={LDFLAGS}", "-o", str(partial), "."],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go build of {MODULE} failed:\n{proc.stdout}{proc.stderr}")
    partial.rename(target)
    for old in CACHE.glob("controlplane-*"):
        if old != target:
            old.unlink(missing_ok=True)
    log(f"built the test control plane in {time.monotonic() - started:.0f} s")
    return target
