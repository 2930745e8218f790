"""autodl-design: AutoDL Design neural architecture search on PaddlePaddle 3 and PARL."""

from autodl_design import (
    _compat,  # noqa: F401  (must run before paddle/protobuf/parl load)
    cpu_tuning,
)

# MKL reads its CPU type at the process's first Paddle op, which in a search process is the
# controller's, long before the evaluator is imported: apply the tuning here, first.
cpu_tuning.apply()

__version__ = "0.1.0"
