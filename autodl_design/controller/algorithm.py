"""REINFORCE for the generator (a ``parl.Algorithm``): owns the loss and the optimiser."""

from __future__ import annotations

import paddle
import parl

from autodl_design.controller.model import LSTMGenerator, Rollout


class Reinforce(parl.Algorithm):
    """Policy gradient on whole architectures.

    loss = mean_b[ -(log p(tokens_b) + log p(bits_b)) * advantage_b - entropy_weight * H_b ]

    ``-log p`` is the summed softmax cross-entropy of the sampled tokens plus the summed sigmoid
    cross-entropy of the sampled adjacency bits, as in the original. Optimiser: Adam.
    """

    def __init__(self, model: LSTMGenerator, lr: float, entropy_weight: float = 0.0):
        super().__init__(model)
        self.entropy_weight = entropy_weight
        self.optimizer = paddle.optimizer.Adam(learning_rate=lr, parameters=model.parameters())

    def sample(self, u_tokens: paddle.Tensor, u_bits: paddle.Tensor) -> Rollout:
        """Sample B architectures from uniform noise (B, 2N) and (B, N(N-1)), no gradient."""
        with paddle.no_grad():
            return self.model(u_tokens.shape[0], noise=(u_tokens, u_bits))

    def evaluate(self, tokens: paddle.Tensor, bits: paddle.Tensor) -> Rollout:
        """Teacher-forced rollout of given actions: their log-probabilities and distributions."""
        return self.model(tokens.shape[0], tokens, bits)

    def learn(self, tokens: paddle.Tensor, bits: paddle.Tensor, advantages: paddle.Tensor):
        """One Adam step. tokens int64 (B, 2N), bits float32 (B, N(N-1)), advantages float32 (B,).

        Returns (loss, mean entropy) as 0-d tensors.
        """
        rollout = self.evaluate(tokens, bits)
        entropy = rollout.entropy
        loss = -(rollout.log_prob * advantages).mean() - self.entropy_weight * entropy.mean()
        self.optimizer.clear_grad()
        loss.backward()
        self.optimizer.step()
        return loss, entropy.mean()
