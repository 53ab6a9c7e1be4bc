"""spec.models builds pjob's models with a stand-in pydantic plugin loader
(no importlib.metadata scan); afterwards the real loader is what a user's
model gets, and nothing of the stand-in is left. Fresh interpreters: the
test session has imported pydantic already."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import pjob.spec.models
left = sys.modules.get("pydantic.plugin._loader")
print("left", left is not None)
print("metadata", "importlib.metadata" in sys.modules)
import pydantic
class Mine(pydantic.BaseModel):
    x: int
print("built", Mine(x=1).x)
print("real", sys.modules["pydantic.plugin._loader"].__file__.endswith("_loader.py"))
"""


def test_the_stand_in_loader_is_gone_and_user_models_get_the_real_one():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["left", "False", "metadata", "False", "built", "1", "real", "True"], out.stdout
