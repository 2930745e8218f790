"""Typed configuration: one dataclass per component, loaded from YAML plus CLI overrides.

The components' dataclasses are :mod:`autodl_design.config.components`; the generic loading
(dict -> dataclass, ``-o key=value`` overrides, YAML files and their ``extends:`` chains) is
:mod:`autodl_design.config.io`.
"""

from autodl_design.config.components import (
    INFERENCE_ENGINES,
    TTA_MODES,
    ControllerConfig,
    CountOnesConfig,
    DataConfig,
    EvaluatorConfig,
    ExecutionConfig,
    InferenceEngine,
    NetworkConfig,
    SearchConfig,
    SGDConfig,
)
from autodl_design.config.io import (
    ConfigError,
    apply_override,
    check,
    from_dict,
    load_config,
    read_config_file,
    to_yaml,
)

__all__ = [
    "INFERENCE_ENGINES",
    "TTA_MODES",
    "ConfigError",
    "ControllerConfig",
    "CountOnesConfig",
    "DataConfig",
    "EvaluatorConfig",
    "ExecutionConfig",
    "InferenceEngine",
    "NetworkConfig",
    "SGDConfig",
    "SearchConfig",
    "apply_override",
    "check",
    "from_dict",
    "load_config",
    "read_config_file",
    "to_yaml",
]
