"""autodl-design: AutoDL Design neural architecture search on PaddlePaddle 3 and PARL."""

from autodl_design import _compat  # noqa: F401  (must run before paddle/protobuf/parl load)

__version__ = "0.1.0"
