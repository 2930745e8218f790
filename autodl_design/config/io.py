"""Generic typed-config loading: plain dicts and YAML into validated dataclasses.

:func:`from_dict` builds a dataclass (nested sections included) from a dict, rejecting unknown
keys and wrong types, then calls every ``validate()`` method, so errors name the dotted key;
:func:`read_config_file` reads a YAML file and the files it ``extends:``, deep-merged;
:func:`apply_override` applies ``a.b=value`` strings; :func:`load_config` joins a YAML file and
overrides; :func:`to_yaml` writes a config back out. No component's schema lives here
(:mod:`autodl_design.config`).

``extends: other.yaml`` (top level, a path relative to the file that says it) makes a file a
set of changes to another: its keys are merged over the other file's, mappings key by key, any
other value replacing; the other file may extend a third. Overrides apply after the whole chain.

Linked keys (a class's ``LINKED_KEYS``: groups of dotted keys that name one setting, such as
``space.nodes`` and its older name ``controller.n_nodes``): a file or an override that sets one
key of a group sets them all (:func:`link_keys`), so the later file or override wins whichever
name it uses; one file giving two names of a group different values is an error.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

EXTENDS = "extends"


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


def check(ok: bool, key: str, message: str) -> None:
    """Raise :class:`ConfigError` ``"key: message"`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}: {message}")


def from_dict(cls: type[T], data: dict | None, path: str = "") -> T:
    """Build dataclass ``cls`` from a plain dict, rejecting unknown keys and wrong types."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    if getattr(cls, "LINKED_KEYS", ()):
        data = copy.deepcopy(data)
        link_keys(cls, data)
    hints = typing.get_type_hints(cls)
    _check_known(cls, data, path)
    defaults = cls()
    kwargs = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            # A partial section keeps the parent's defaults for it (e.g. the demo's lr).
            value = _merge(dataclasses.asdict(default), value)
        kwargs[name] = _coerce(hints[name], value, _join(path, name))
    obj = cls(**kwargs)
    _validate_tree(obj, path)
    return obj


def _check_known(cls: type, data: dict, path: str) -> None:
    """Reject a key of ``data`` (not of its sections) that is not a field of ``cls``."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"unknown config key {_join(path, unknown[0])!r}; "
            f"known keys: {', '.join(sorted(fields))}"
        )


def check_keys(cls: type, data: dict, path: str = "") -> None:
    """Reject any key of ``data``, sections included, that ``cls`` does not have.

    Only names are checked (no types, no ``validate()``), so a partial file, such as one that
    ``extends:`` another, can be checked on its own.
    """
    _check_known(cls, data, path)
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        section = _dataclass_in(hints[name])
        if section is not None and isinstance(value, dict):
            check_keys(section, value, _join(path, name))


_MISSING = object()


def _get(data: dict, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _put(data: dict, key: str, value: Any) -> None:
    *sections, name = key.split(".")
    node = data
    for part in sections:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return  # not a mapping: from_dict names the key
    node[name] = value


def _fits(cls: type, key: str, value: Any) -> bool:
    tp: Any = cls
    for part in key.split("."):
        tp = typing.get_type_hints(_dataclass_in(tp))[part]
    try:
        _coerce(tp, value, key)
    except ConfigError:
        return False
    return True


def link_keys(cls: type, data: dict, where: str = "") -> None:
    """In ``data`` (one file, one override, or a whole config), give every key of each group in
    ``cls.LINKED_KEYS`` the value (not null) that one of them has. Two keys of a group with
    different values are a :class:`ConfigError` (prefixed ``where``); a value of the wrong type
    is not copied, so building the config names the key that holds it."""
    for group in getattr(cls, "LINKED_KEYS", ()):
        given = [(k, v) for k in group if (v := _get(data, k)) not in (_MISSING, None)]
        for (first, value), (key, other) in zip(given, given[1:], strict=False):
            if other != value:
                raise ConfigError(
                    f"{where}{first}: {value!r} and {key}: {other!r} name one setting; "
                    "give one of them"
                )
        for key in group if given else ():
            if _get(data, key) in (_MISSING, None) and _fits(cls, key, given[0][1]):
                _put(data, key, given[0][1])


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass ``tp`` is, or is one member of (``X | None``), else ``None``."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)), None)
    return None


def _merge(base: dict, update: dict) -> dict:
    """``update`` deep-merged over ``base``: mappings key by key, other values replace."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = _merge(out[key], value)
        out[key] = value
    return out


def _validate_tree(obj: Any, path: str) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _validate_tree(value, _join(path, f.name))
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ConfigError as e:
            raise ConfigError(f"{_join(path, str(e))}") from None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{path}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(a) for a in typing.get_args(tp))
            raise ConfigError(f"{path}: {value!r} is not one of {choices}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (arg, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(arg, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    return value


def apply_override(data: dict, override: str) -> None:
    """Apply ``"a.b.c=value"`` to a nested dict; the value is parsed as YAML (so 0.1 is a float)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.path=value")
    key, raw = override.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {override!r} has an empty key")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def read_config_file(path: str | Path, cls: type | None = None) -> dict:
    """The mapping in YAML file ``path`` merged over the chain of files it ``extends:``.

    With ``cls``, every file's keys are checked against it on their own, so an unknown key is
    named with the file it is in. A missing file, a cycle or a non-string ``extends`` is a
    :class:`ConfigError` naming the file that says it.
    """
    return _read_chain(Path(path), cls, [])


def _read_chain(path: Path, cls: type | None, chain: list[Path]) -> dict:
    if path.resolve() in [p.resolve() for p in chain]:
        cycle = " -> ".join(str(p) for p in [*chain, path])
        raise ConfigError(f"{chain[-1]}: {EXTENDS}: cycle {cycle}")
    data = _read_yaml(path)
    extends = EXTENDS in data
    base = data.pop(EXTENDS, None)
    if cls is not None:
        try:
            check_keys(cls, data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        link_keys(cls, data, f"{path}: ")
    if not extends:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: {EXTENDS}: expected a file name, got {base!r}")
    base_path = path.parent / base
    if not base_path.is_file():
        raise ConfigError(f"{path}: {EXTENDS}: file not found: {base_path}")
    return _merge(_read_chain(base_path, cls, [*chain, path]), data)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _one_line(error: Exception) -> str:
    # PyYAML's messages span lines (problem, then where); the CLI prints one line.
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None
) -> T:
    """Read YAML ``path`` (optional) with its ``extends:`` chain, apply ``overrides`` and build
    a validated ``cls``."""
    data = {} if path is None else read_config_file(path, cls)
    for override in overrides or []:
        apply_override(data, override)
        layer: dict = {}
        apply_override(layer, override)
        link_keys(cls, layer, f"override {override!r}: ")
        for key in (k for group in getattr(cls, "LINKED_KEYS", ()) for k in group):
            if (value := _get(layer, key)) is not _MISSING:
                _put(data, key, value)
    return from_dict(cls, data)


def to_yaml(config: Any) -> str:
    """The full configuration as YAML (logged at start so a run describes itself)."""
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False)
