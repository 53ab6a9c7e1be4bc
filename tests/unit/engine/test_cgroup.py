"""Default worker concurrency follows the cgroup's CPU quota and memory
limit, not the node's core count (pjob.engine.cgroup): parsing tables for
cgroup v1 and v2, and the file reads over fake cgroup trees."""

from __future__ import annotations

import pytest
from pjob.engine import build, cgroup

GIB = 1 << 30


@pytest.mark.parametrize(
    "text, cpus",
    [
        ("max 100000\n", None),
        ("150000 100000\n", 1.5),
        ("100000 100000", 1.0),
        ("50000 100000", 0.5),
        ("200000", 2.0),  # period omitted: the kernel default 100 ms
        ("", None),
        (None, None),
        ("garbage 100000", None),
        ("0 100000", None),
    ],
)
def test_parse_cpu_max(text, cpus):
    assert cgroup.parse_cpu_max(text) == cpus


@pytest.mark.parametrize(
    "quota, period, cpus",
    [
        ("-1\n", "100000\n", None),
        ("200000\n", "100000\n", 2.0),
        ("25000", "100000", 0.25),
        ("300000", None, 3.0),
        (None, "100000", None),
        ("x", "100000", None),
    ],
)
def test_parse_cfs(quota, period, cpus):
    assert cgroup.parse_cfs(quota, period) == cpus


@pytest.mark.parametrize(
    "text, memory",
    [
        ("max\n", None),
        ("4294967296\n", 4 * GIB),
        ("9223372036854771712\n", None),  # v1 "no limit"
        ("", None),
        (None, None),
        ("0", None),
        ("lots", None),
    ],
)
def test_parse_memory(text, memory):
    assert cgroup.parse_memory(text) == memory


@pytest.mark.parametrize(
    "proc, controller, dirs",
    [
        ("0::/\n", None, ["/cg"]),
        ("0::/kubepods/pod1/ctr\n", None, ["/cg/kubepods/pod1/ctr", "/cg/kubepods/pod1", "/cg/kubepods", "/cg"]),
        ("", None, ["/cg"]),
        ("4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/\n", "cpu", ["/cg/docker/abc", "/cg/docker", "/cg"]),
        ("4:memory:/docker/abc\n1:cpu,cpuacct:/\n", "memory", ["/cg/docker/abc", "/cg/docker", "/cg"]),
        ("4:memory:/docker/abc\n", "cpu", ["/cg"]),
    ],
)
def test_cgroup_dirs(proc, controller, dirs):
    assert cgroup.cgroup_dirs(proc, "/cg", controller) == dirs


@pytest.mark.parametrize(
    "cores, limits, workers",
    [
        (64, cgroup.Limits(), 64),  # no limits: the cores
        (64, cgroup.Limits(cpus=1.0), 1),  # the defect: 64 cores, a 1-CPU pod -> 1 worker, not 64
        (64, cgroup.Limits(cpus=1.5), 2),  # a part CPU rounds up
        (64, cgroup.Limits(cpus=0.25), 1),
        (4, cgroup.Limits(cpus=16.0), 4),  # never more than the cores
        (64, cgroup.Limits(cpus=8.0, memory=1 * GIB), 4),  # 256 MiB per worker at the least
        (64, cgroup.Limits(memory=100 << 20), 1),  # at least one
        (None, cgroup.Limits(), 1),
    ],
)
def test_concurrency(cores, limits, workers):
    assert cgroup.concurrency(cores, limits) == workers


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_read_limits_v2_takes_the_tightest_of_the_cgroup_and_its_parents(tmp_path):
    mount = tmp_path / "cg"
    _write(mount / "cgroup.controllers", "cpu memory\n")
    _write(mount / "cpu.max", "max 100000\n")
    _write(mount / "kubepods" / "cpu.max", "400000 100000\n")
    _write(mount / "kubepods" / "pod" / "cpu.max", "200000 100000\n")
    _write(mount / "kubepods" / "pod" / "memory.max", "2147483648\n")
    _write(mount / "kubepods" / "memory.max", "max\n")
    _write(tmp_path / "proc", "0::/kubepods/pod\n")
    assert cgroup.read_limits(str(mount), str(tmp_path / "proc")) == cgroup.Limits(cpus=2.0, memory=2 * GIB)


def test_read_limits_v1(tmp_path):
    mount = tmp_path / "cg"
    _write(mount / "cpu,cpuacct" / "cpu.cfs_quota_us", "150000\n")
    _write(mount / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    _write(mount / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")
    _write(mount / "memory" / "ctr" / "memory.limit_in_bytes", "1073741824\n")
    _write(tmp_path / "proc", "4:memory:/ctr\n2:cpu,cpuacct:/\n")
    assert cgroup.read_limits(str(mount), str(tmp_path / "proc")) == cgroup.Limits(cpus=1.5, memory=GIB)


def test_read_limits_without_cgroup_files_is_no_limit(tmp_path):
    assert cgroup.read_limits(str(tmp_path / "none"), str(tmp_path / "none" / "proc")) == cgroup.Limits()


def test_local_default_concurrency_follows_the_cpu_quota(monkeypatch):
    """`pjob run` without max_concurrency_per_instance on a 64-core machine limited to 2 CPUs."""
    monkeypatch.setattr(cgroup, "usable_cpus", lambda: 64)
    monkeypatch.setattr(cgroup, "read_limits", lambda *a, **k: cgroup.Limits(cpus=2.0))
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert build.default_concurrency() == 2


def test_worker_pod_default_concurrency_follows_the_pod_cpu_limit(monkeypatch):
    """`pjob agent` in a pod limited to 1 CPU on a 64-core node starts 1 worker, not 64."""
    from pjob.kube import agent_cmd

    monkeypatch.setattr(cgroup, "usable_cpus", lambda: 64)
    monkeypatch.setattr(cgroup, "read_limits", lambda *a, **k: cgroup.Limits(cpus=1.0, memory=4 * GIB))
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert agent_cmd.default_workers() == 1
