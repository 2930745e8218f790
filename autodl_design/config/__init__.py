"""Typed configuration: one dataclass per component, loaded from YAML plus CLI overrides.

The components' dataclasses are :mod:`autodl_design.config.components`, the search's own
sections (strategy, evolution, the whole search) :mod:`autodl_design.config.search`; the
generic loading (dict -> dataclass, ``-o key=value`` overrides, YAML files and their
``extends:`` chains) is :mod:`autodl_design.config.io`.
"""

from autodl_design.config import components, search
from autodl_design.config.components import *  # noqa: F403
from autodl_design.config.io import (
    ConfigError,
    apply_override,
    check,
    from_dict,
    load_config,
    read_config_file,
    to_yaml,
)
from autodl_design.config.search import *  # noqa: F403

__all__ = ["ConfigError", "apply_override", "check", "from_dict", "load_config"]
__all__ += ["read_config_file", "to_yaml", *components.__all__, *search.__all__]
