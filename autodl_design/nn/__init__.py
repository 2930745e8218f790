"""Networks in Paddle: the op registry, the network builder, FLOPs, run-time helpers, export."""

from autodl_design.nn.flops import count_flops, count_params
from autodl_design.nn.network import Network, build_network
from autodl_design.nn.ops import OPS, make_op
from autodl_design.nn.runtime import (
    configure_threads,
    cosine_lr,
    evaluate_accuracy,
    predict,
    softmax,
)

__all__ = [
    "OPS",
    "Network",
    "build_network",
    "configure_threads",
    "cosine_lr",
    "count_flops",
    "count_params",
    "evaluate_accuracy",
    "make_op",
    "predict",
    "softmax",
]
