"""The LSTM architecture generator (a ``parl.Model``): it only computes.

Per cell (normal, then reduction; the LSTM state carries over), the generator

1. reads a zero vector and emits the op token of node 0;
2. for node j = 1 .. N-1: reads one-hot(previous token), emits j adjacency logits (edges
   i -> j, i < j) and samples them as Bernoulli bits; reads the bits (zero-padded) and emits
   the op token of node j, sampled from a categorical distribution.

All logits are squashed as ``tanh_constant * tanh(logits / temperature)`` before use.

It is sized from a search space (:class:`autodl_design.space.SearchSpace`): ``num_ops`` op
tokens (indices into the space's ops), ``num_cells`` cells (2, or 1 when one cell type serves
as both) and, with ``search_edges`` off (fixed adjacency), no adjacency step at all: node j's
token follows the one-hot of node j - 1's directly. The defaults are the original's.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
import paddle.nn.functional as F
import parl
from paddle import nn

from autodl_design.space import NUM_OPS, num_adjacency_bits


class Rollout(NamedTuple):
    """One unroll of the generator for B architectures (N nodes per cell; the shapes are the
    default space's: ``num_tokens`` and ``num_bits`` in general)."""

    tokens: paddle.Tensor  # int64 (B, 2N): op tokens, normal cell then reduction cell
    bits: paddle.Tensor  # float32 (B, N(N-1)): adjacency bits in Cell.from_bits order
    log_prob: paddle.Tensor  # float32 (B,): summed log-probability of all actions
    entropy: paddle.Tensor  # float32 (B,): summed entropy of all sampling distributions
    token_probs: paddle.Tensor  # float32 (B, 2N, num_ops): distribution each token came from
    bit_probs: paddle.Tensor  # float32 (B, N(N-1)): P(bit = 1) each bit came from


class LSTMGenerator(parl.Model):
    """Autoregressive generator of B architectures at once.

    Args:
        n_nodes: nodes per cell (N).
        num_ops: op vocabulary size (the search space's ops).
        hidden_size, num_layers: LSTM size (the original: 64, 2).
        temperature, tanh_constant: logit squash ``c * tanh(l / t)``.
        init_range: weights are uniform in ``[-init_range, init_range]``, biases zero.
        num_cells: cells emitted per architecture (2: normal and reduction; 1: one cell type).
        search_edges: emit adjacency bits (False: the space's adjacency is fixed).
    """

    def __init__(
        self,
        n_nodes: int = 10,
        num_ops: int = NUM_OPS,
        hidden_size: int = 64,
        num_layers: int = 2,
        temperature: float = 5.0,
        tanh_constant: float = 2.5,
        init_range: float = 0.1,
        num_cells: int = 2,
        search_edges: bool = True,
    ):
        super().__init__()
        self.n_nodes = n_nodes
        self.num_ops = num_ops
        self.num_cells = num_cells
        self.search_edges = search_edges
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        # One input width serves both kinds of step: one-hot tokens and padded adjacency bits.
        self.input_size = max(num_ops, n_nodes - 1, 1) if search_edges else num_ops
        init = nn.initializer.Uniform(-init_range, init_range)
        zero = nn.initializer.Constant(0.0)
        w = paddle.ParamAttr(initializer=init)
        b = paddle.ParamAttr(initializer=zero)
        self.cells = nn.LayerList(
            [
                nn.LSTMCell(
                    self.input_size if k == 0 else hidden_size,
                    hidden_size,
                    weight_ih_attr=w,
                    weight_hh_attr=w,
                    bias_ih_attr=b,
                    bias_hh_attr=b,
                )
                for k in range(num_layers)
            ]
        )
        self.token_head = nn.Linear(hidden_size, num_ops, weight_attr=w, bias_attr=b)
        if search_edges:
            self.adj_head = nn.Linear(hidden_size, max(n_nodes - 1, 1), weight_attr=w, bias_attr=b)

    @property
    def num_tokens(self) -> int:
        return self.num_cells * self.n_nodes

    @property
    def num_bits(self) -> int:
        return self.num_cells * num_adjacency_bits(self.n_nodes) if self.search_edges else 0

    def _squash(self, logits: paddle.Tensor) -> paddle.Tensor:
        return self.tanh_constant * paddle.tanh(logits / self.temperature)

    def _step(self, x, states):
        new_states = []
        for cell, state in zip(self.cells, states, strict=True):
            x, state = cell(x, state)
            new_states.append(state)
        return x, new_states

    def _pad(self, x: paddle.Tensor) -> paddle.Tensor:
        width = x.shape[1]
        if width == self.input_size:
            return x
        return F.pad(x, [0, self.input_size - width], data_format="NL")

    def forward(self, batch_size: int, tokens=None, bits=None, noise=None) -> Rollout:
        """Unroll the generator for ``batch_size`` architectures.

        With ``tokens`` (int64, ``(B, 2N)``) and ``bits`` (float32, ``(B, N(N-1))``) given, the
        unroll is teacher-forced on those actions (for learning). Otherwise actions are sampled
        by inverse transform from ``noise = (u_tokens, u_bits)``, float32 uniforms in [0, 1) of
        shapes ``(B, 2N)`` and ``(B, N(N-1))``: the caller owns the randomness, so the model is
        a pure function and sampling is reproducible per agent.

        Returns a :class:`Rollout`.
        """
        sample = tokens is None
        if sample and noise is None:
            raise ValueError("sampling needs noise=(u_tokens, u_bits)")
        zeros = paddle.zeros([batch_size, self.hidden_size])
        states = [(zeros, zeros) for _ in range(self.num_layers)]
        out_tokens, out_bits, log_probs, entropies = [], [], [], []
        token_probs, bit_probs = [], []

        def emit_token(h):
            logits = self._squash(self.token_head(h))
            logp = F.log_softmax(logits, axis=-1)
            if sample:
                u = noise[0][:, len(out_tokens) : len(out_tokens) + 1]
                below = (paddle.cumsum(paddle.exp(logp), axis=-1) <= u).astype("int64")
                tok = paddle.clip(below.sum(-1), max=self.num_ops - 1)
            else:
                tok = tokens[:, len(out_tokens)]
            out_tokens.append(tok)
            log_probs.append(paddle.take_along_axis(logp, tok.unsqueeze(-1), axis=-1).squeeze(-1))
            probs = paddle.exp(logp)
            token_probs.append(probs)
            entropies.append(-(probs * logp).sum(-1))
            return tok

        def emit_bits(h, width):
            logits = self._squash(self.adj_head(h))[:, :width]
            start = sum(x.shape[1] for x in out_bits)
            if sample:
                b = (noise[1][:, start : start + width] < F.sigmoid(logits)).astype("float32")
            else:
                b = bits[:, start : start + width]
            out_bits.append(b)
            # log p(b) = -BCE(logits, b); entropy of a Bernoulli from its logit.
            log_probs.append(
                -F.binary_cross_entropy_with_logits(logits, b, reduction="none").sum(-1)
            )
            p = F.sigmoid(logits)
            bit_probs.append(p)
            entropies.append(
                F.binary_cross_entropy_with_logits(logits, p, reduction="none").sum(-1)
            )
            return b

        for _cell in range(self.num_cells):
            h, states = self._step(paddle.zeros([batch_size, self.input_size]), states)
            prev = emit_token(h)
            for j in range(1, self.n_nodes):
                h, states = self._step(self._pad(F.one_hot(prev, self.input_size)), states)
                if self.search_edges:
                    b = emit_bits(h, j)
                    h, states = self._step(self._pad(b), states)
                prev = emit_token(h)

        no_bits = paddle.zeros([batch_size, 0])
        return Rollout(
            tokens=paddle.stack(out_tokens, axis=1),
            bits=paddle.concat(out_bits, axis=1) if out_bits else no_bits,
            log_prob=paddle.add_n(log_probs),
            entropy=paddle.add_n(entropies),
            token_probs=paddle.stack(token_probs, axis=1),
            bit_probs=paddle.concat(bit_probs, axis=1) if bit_probs else no_bits,
        )
