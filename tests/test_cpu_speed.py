"""CPU speed settings: MKL's code path on AMD, and inference through a oneDNN predictor."""

import numpy as np
import paddle
import pytest

from autodl_design import cpu_tuning
from autodl_design.config import NetworkConfig
from autodl_design.nn.network import build_network
from autodl_design.nn.runtime import evaluate_accuracy, predict
from autodl_design.space import random_architecture

AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n"
ZEN4 = AMD.replace("avx512f", "avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16")
INTEL = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma\n"
OLD_AMD = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 sse4_2\n"


def test_cpu_info_reads_vendor_and_flags():
    vendor, flags = cpu_tuning.cpu_info(AMD)
    assert vendor == "AuthenticAMD" and {"avx2", "fma", "avx512f"} <= flags


@pytest.mark.parametrize(
    ("text", "expected"), [(AMD, "5"), (ZEN4, "7"), (INTEL, None), (OLD_AMD, None)]
)
def test_avx512_or_avx2_path_only_for_non_intel_cpus(text, expected):
    assert cpu_tuning.wanted_cpu_type(*cpu_tuning.cpu_info(text)) == expected


def test_apply_sets_the_variable_unless_switched_off_or_already_set():
    env: dict[str, str] = {}
    assert cpu_tuning.apply(env, AMD) == "5" and env["MKL_DEBUG_CPU_TYPE"] == "5"
    env = {"MKL_DEBUG_CPU_TYPE": "4"}
    assert cpu_tuning.apply(env, AMD) == "4" and env["MKL_DEBUG_CPU_TYPE"] == "4"
    env = {"AUTODL_DESIGN_MKL_AVX2": "0"}
    assert cpu_tuning.apply(env, AMD) is None and "MKL_DEBUG_CPU_TYPE" not in env
    env = {}
    assert cpu_tuning.apply(env, INTEL) is None and env == {}


def test_config_switch_off_undoes_only_our_setting_and_reaches_child_processes():
    env: dict[str, str] = {}
    cpu_tuning.apply(env, AMD)
    assert cpu_tuning.configure(False, env) is None
    assert "MKL_DEBUG_CPU_TYPE" not in env and env["AUTODL_DESIGN_MKL_AVX2"] == "0"
    assert cpu_tuning.configure(True, env, AMD) is None  # the environment's "off" wins
    env = {"MKL_DEBUG_CPU_TYPE": "4"}  # the user's own choice is never removed
    assert cpu_tuning.configure(False, env) == "4"
    env = {}
    assert cpu_tuning.configure(True, env, AMD) == "5"


def test_mkl_and_engine_switches_are_validated_config_keys():
    from autodl_design.config import ConfigError, SearchConfig, load_config
    from autodl_design.train.config import TrainConfig

    cfg = load_config(SearchConfig, None, ["evaluator.mkl_avx2=false"])
    assert cfg.evaluator.mkl_avx2 is False and cfg.evaluator.inference_engine == "auto"
    train = load_config(TrainConfig, None, ["inference_engine=dygraph"])
    assert train.inference_engine == "dygraph" and train.mkl_avx2 is True
    with pytest.raises(ConfigError, match="inference_engine"):
        load_config(TrainConfig, None, ["inference_engine=tensorrt"])


def _trained_net():
    paddle.seed(0)
    arch = random_architecture(np.random.default_rng(4), 4, edge_prob=0.5)
    net = build_network(arch, NetworkConfig(width=8, stages=2))
    rng = np.random.default_rng(0)
    for _ in range(3):  # moves the BN running statistics off their initial values
        net(paddle.to_tensor(rng.standard_normal((8, 3, 16, 16)).astype(np.float32)))
    return net


def test_onednn_engine_matches_dygraph_and_keeps_the_mode():
    net = _trained_net()
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (21, 16, 16, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 21)
    expected = predict(net, x, 8)
    got = predict(net, x, 8, engine="onednn")
    assert got.shape == expected.shape == (21, 10)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    assert net.training
    loss, acc = evaluate_accuracy(net, x, y, 8)
    loss2, acc2 = evaluate_accuracy(net, x, y, 8, engine="onednn")
    assert acc2 == acc and abs(loss2 - loss) < 1e-4


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        predict(_trained_net(), np.zeros((2, 16, 16, 3), np.uint8), 2, engine="tensorrt")


def test_the_tuned_mkl_path_computes_correctly_on_this_cpu():
    """MKL's forced kernels run in a child process (a wrong path dies there by SIGILL, not here)
    and give numpy's results for GEMM and the VML functions Paddle's element-wise ops use."""
    import subprocess
    import sys

    code = (
        "import autodl_design, numpy as np, paddle, sys\n"
        "r = np.random.default_rng(0)\n"
        "a, b = r.random((300, 200), np.float32) + 0.5, r.random((200, 300), np.float32) + 0.5\n"
        "x, y = paddle.to_tensor(a), paddle.to_tensor(b.T.copy())\n"
        "got = [paddle.matmul(x, paddle.to_tensor(b)), x / y, paddle.exp(x), paddle.log(x),\n"
        "       paddle.tanh(x), paddle.sqrt(x), paddle.erf(x), paddle.pow(x, 2.5)]\n"
        "import math\n"
        "bt = b.T.astype(np.float64); a64 = a.astype(np.float64)\n"
        "erf = np.vectorize(math.erf)\n"
        "want = [a64 @ b, a64 / bt, np.exp(a64), np.log(a64), np.tanh(a64), np.sqrt(a64),\n"
        "        erf(a64), a64 ** 2.5]\n"
        "err = max(float(np.max(np.abs(g.numpy() - w) / np.abs(w))) for g, w in zip(got, want))\n"
        "import os; print(os.environ.get('MKL_DEBUG_CPU_TYPE'), err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    cpu_type, err = out.stdout.split()[-2:]
    assert cpu_type == str(cpu_tuning.wanted_cpu_type(*cpu_tuning.cpu_info()))
    assert float(err) < 1e-5


def test_configured_threads_are_every_engines_default(monkeypatch):
    from autodl_design.nn import predictor
    from autodl_design.nn.runtime import configure_threads

    monkeypatch.setattr(predictor, "_configured_threads", [])
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert predictor.default_threads() == 3  # nothing configured: the environment's
    try:
        configure_threads(2)
        assert predictor.default_threads() == 2  # what --threads asked for, for every engine
    finally:
        configure_threads(1)
    assert predictor.default_threads() == 1
