"""Issue 5 acceptance: API cost of a ParallelJob of 10,000 mini-batches with
4 agents, end to end (operator + real `pjob agent` processes + kube
coordinator), at most 0.05 API writes per mini-batch. The numbers are printed
(run with -s) and by bench/kube_api_cost.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import kube_api_cost  # noqa: E402


def test_ten_thousand_mini_batches_cost_at_most_0_05_writes_each(kube_api, kubelet, tmp_path):
    result = kube_api_cost.run_job(kube_api, tmp_path, total=10_000, agents=4, workers=2, timeout=240)
    print(f"\n{result['writes']} API writes = {result['per_mini_batch']:.4f} per mini-batch in "
          f"{result['elapsed']:.1f} s; {result['by_client']}")
    assert result["status"]["state"] == "Succeeded", result["status"]
    assert result["status"]["miniBatches"] == {"total": 10_000, "done": 10_000, "failed": 0}
    assert result["per_mini_batch"] <= 0.05
    operator = result["by_client"]["operator"]
    assert operator.get("create jobs") == 1
    assert operator.get("patch paralleljobs/status", 0) <= 20  # status written on change only, not per mini-batch
    out = (tmp_path / "ds" / "runs" / "default" / "cost" / "steps" / "cost" / "outputs" / "out").read_text()
    assert out.splitlines() == [str(tmp_path / "ds" / "data" / "files" / f"f{i:06d}.txt") for i in range(10_000)]
