"""`import autodl_design` must make `import parl` work under Paddle 3 (fresh interpreters)."""

import subprocess
import sys

CHECK = """
import os
import autodl_design
import paddle
import parl
import parl.remote  # loads heartbeat_pb2, which needs the python protobuf runtime
from parl.core.paddle.model import Model
assert parl.Model is Model, parl.Model
assert os.environ["PARL_BACKEND"] == "paddle"
print("ok", paddle.__version__, parl.__version__)
"""


def _run(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PARL_BACKEND", "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION")
    }
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_parl_imports_with_paddle_backend_after_autodl_design():
    proc = _run(CHECK)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok 3."), proc.stdout


def test_without_the_compat_module_parl_has_no_paddle_backend():
    # Guards the premise: if PARL ever finds Paddle 3 by itself this test tells us the
    # compatibility module can go.
    proc = _run("import paddle, parl\nprint(hasattr(parl, 'Model'))")
    assert proc.stdout.strip().endswith("False") or proc.returncode != 0


def test_warns_when_protobuf_was_imported_first():
    proc = _run("import google.protobuf\nimport autodl_design")
    assert "import autodl_design first" in proc.stderr
