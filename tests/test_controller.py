"""The PARL controller: sampling statistics, REINFORCE direction, checkpoints."""

import numpy as np
import paddle
import pytest

from autodl_design.checkpoint import load_state, save_atomic
from autodl_design.config import ControllerConfig
from autodl_design.controller import CheckpointError, ControllerAgent, LSTMGenerator
from autodl_design.controller.baseline import MovingAverageBaseline
from autodl_design.space import Architecture


def _agent(**kw) -> ControllerAgent:
    return ControllerAgent.from_config(ControllerConfig(**{"n_nodes": 4, **kw}))


def test_shapes_and_valid_architectures():
    agent = _agent(n_nodes=5)
    tokens, bits, logp = agent.sample(7)
    assert tokens.shape == (7, 10) and tokens.dtype == np.int64
    assert bits.shape == (7, 20) and set(np.unique(bits)) <= {0, 1}
    assert logp.shape == (7,) and (logp < 0).all()
    archs = agent.sample_architectures(3)
    assert all(isinstance(a, Architecture) and a.n_nodes == 5 for a in archs)


def test_logits_are_squashed_into_tanh_range():
    paddle.seed(0)
    model = LSTMGenerator(n_nodes=3, init_range=5.0)  # huge weights: raw logits far outside
    r = model(64, noise=(paddle.rand([64, 6]), paddle.rand([64, 6])))
    token_logp = paddle.log(r.token_probs).numpy()
    # With logits in [-2.5, 2.5] no op can be more than e^5 times likelier than another.
    spread = token_logp.max(-1) - token_logp.min(-1)
    assert spread.max() <= 5.0 + 1e-4
    bits = r.bit_probs.numpy()
    assert bits.min() >= 1 / (1 + np.e**2.5) - 1e-6 and bits.max() <= 1 / (1 + np.e**-2.5) + 1e-6


def test_sampler_frequencies_match_its_probabilities():
    """Empirical frequencies vs softmax/sigmoid of the logits, within 4.5 standard errors."""
    paddle.seed(3)
    model = LSTMGenerator(n_nodes=4, init_range=1.0)
    # Biases are zero at init, which makes the first token uniform: make it far from uniform.
    model.token_head.bias.set_value(paddle.linspace(-3.0, 3.0, 10))
    model.adj_head.bias.set_value(paddle.linspace(-2.0, 2.0, 3))
    b = 20000
    with paddle.no_grad():
        r = model(b, noise=(paddle.rand([b, 8]), paddle.rand([b, 12])))
    tokens, bits = r.tokens.numpy(), r.bits.numpy()
    token_p, bit_p = r.token_probs.numpy(), r.bit_probs.numpy()

    # The first token's distribution is the same for every sample: compare directly.
    p0 = token_p[0, 0]
    assert np.allclose(token_p[:, 0], p0, atol=1e-5)
    freq0 = np.bincount(tokens[:, 0], minlength=10) / b
    se = np.sqrt(p0 * (1 - p0) / b)
    assert (np.abs(freq0 - p0) <= 4.5 * se + 1e-4).all(), (freq0, p0)
    assert p0.max() / p0.min() > 1.5  # the check above is not against a uniform distribution

    # Later actions are conditional: E[one-hot(action)] = E[P(action | history)].
    onehot = np.eye(10)[tokens]  # (B, 2N, 10)
    diff = np.abs(onehot.mean(0) - token_p.mean(0))
    se = np.sqrt(token_p.mean(0) * (1 - token_p.mean(0)) / b)
    assert (diff <= 4.5 * se + 1e-3).all()
    diff = np.abs(bits.mean(0) - bit_p.mean(0))
    se = np.sqrt(bit_p.mean(0) * (1 - bit_p.mean(0)) / b)
    assert (diff <= 4.5 * se + 1e-3).all()


def test_learn_recomputes_the_sampled_log_probabilities():
    agent = _agent()
    tokens, bits, logp = agent.sample(16)
    np.testing.assert_allclose(agent.log_prob(tokens, bits), logp, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_step_moves_probability_with_the_advantage(sign):
    agent = _agent(lr=0.01)
    tokens, bits, _ = agent.sample(1)
    before = agent.log_prob(tokens, bits)[0]
    agent.alg.learn(
        paddle.to_tensor(tokens), paddle.to_tensor(bits, dtype="float32"), paddle.to_tensor([sign])
    )
    after = agent.log_prob(tokens, bits)[0]
    assert (after - before) * sign > 0.05, (before, after)


def test_baseline_is_a_moving_average_and_cube_keeps_sign():
    b = MovingAverageBaseline(decay=0.9)
    np.testing.assert_allclose(b.advantages(np.array([1.0, 3.0])), [-1.0, 1.0])
    assert b.value == pytest.approx(2.0)
    np.testing.assert_allclose(b.advantages(np.array([12.0])), [10.0])
    assert b.value == pytest.approx(0.9 * 2 + 0.1 * 12)
    cubed = MovingAverageBaseline(decay=0.5, cube=True, value=1.0)
    np.testing.assert_allclose(cubed.advantages(np.array([3.0, -1.0])), [8.0, -8.0])


def test_same_seed_same_samples():
    a, b = _agent(seed=7), _agent(seed=7)
    np.testing.assert_array_equal(a.sample(5)[0], b.sample(5)[0])


def test_checkpoint_resumes_exactly(tmp_path):
    def rewards(tokens):
        return (tokens == 1).sum(1).astype(np.float32)

    ref = _agent(lr=0.05, seed=1)
    for _ in range(3):
        t, b, _ = ref.sample()
        ref.learn(t, b, rewards(t))
    ref.save(str(tmp_path / "ctrl.pdparams"))
    t, b, _ = ref.sample()
    ref.learn(t, b, rewards(t))
    expected = ref.sample()

    resumed = _agent(lr=0.05, seed=1)
    resumed.restore(str(tmp_path / "ctrl.pdparams"))
    assert resumed.updates == 3 and resumed.baseline.value is not None
    t2, b2, _ = resumed.sample()
    np.testing.assert_array_equal(t2, t)
    resumed.learn(t2, b2, rewards(t2))
    for x, y in zip(resumed.sample(), expected, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5)


def test_checkpoint_refuses_other_config_and_garbage(tmp_path):
    path = str(tmp_path / "ctrl.pdparams")
    _agent(lr=0.05).save(path)
    with pytest.raises(CheckpointError, match="lr: 0.05 -> 0.01"):
        _agent(lr=0.01).restore(path)
    state = load_state(path)
    del state["config"]["lr"]  # as if lr had been added to the class since: it takes its default
    save_atomic(state, path)
    _agent(lr=ControllerConfig().lr).restore(path)
    with pytest.raises(CheckpointError, match=f"lr: {ControllerConfig().lr} -> 0.05"):
        _agent(lr=0.05).restore(path)
    (tmp_path / "junk").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        _agent().restore(str(tmp_path / "junk"))
