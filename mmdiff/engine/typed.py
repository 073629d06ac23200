"""Typed values for configs: nested mappings (YAML) and ``section.key=value`` strings (the
CLI's ``--set``) applied to dataclasses of section dataclasses, with every key and type checked.

    cfg = apply(Config(), {"train": {"epochs": 3}}, "my.yml")      # -> a new Config
    cfg = apply(cfg, nest({"optim.lr": "3e-4"}, "<cli>"), "<cli>", parse_strings=True)

Errors (:class:`~mmdiff.errors.ConfigError`) name the source, section and key, suggest a close
match for a typo and say which type was expected. Conversions are lossless only: int -> float,
numeric string -> float (PyYAML reads ``1e-3`` without a dot as a string).
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, Mapping

import yaml

from mmdiff.errors import ConfigError


def nest(flat: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``; already nested mappings pass through."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if isinstance(value, Mapping) and "." not in key:
            nested.setdefault(key, {}).update(value)
            continue
        section, sep, name = key.partition(".")
        if not sep:
            raise ConfigError(f"{source}: override key {key!r} must look like section.key")
        nested.setdefault(section, {})[name] = value
    return nested


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def apply(cfg, data: Mapping[str, Any], source: str, parse_strings: bool = False):
    """A copy of ``cfg`` (a dataclass of section dataclasses) with the nested mapping ``data``
    applied, every section and key checked; with ``parse_strings`` string values are parsed with
    the type of the field they replace (command-line values)."""
    names = tuple(f.name for f in dataclasses.fields(cfg))
    sections = {}
    for section, values in data.items():
        if section not in names:
            raise ConfigError(f"{source}: unknown section {section!r}{_suggest(section, names)};"
                              f" sections are {', '.join(names)}")
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: section {section!r} must be a mapping of keys, "
                              f"found {type(values).__name__}")
        current = getattr(cfg, section)
        hints = typing.get_type_hints(type(current))
        changes = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"{source}: unknown key {key!r} in section {section!r}"
                                  f"{_suggest(key, hints)}; keys are {', '.join(hints)}")
            where = f"{source}: {section}.{key}"
            if parse_strings and isinstance(value, str):
                value = parse_value(value, hints[key], where)
            changes[key] = check_value(value, hints[key], where)
        sections[section] = dataclasses.replace(current, **changes)
    return dataclasses.replace(cfg, **sections)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_value(value: Any, tp, where: str) -> Any:
    """Return ``value`` converted to ``tp`` where lossless (int -> float, numeric str -> float),
    else raise ConfigError saying what was expected and found."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return check_value(value, inner[0], where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list of {_type_name(item_tp)}, "
                              f"found {type(value).__name__} {value!r}")
        return [check_value(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, found {type(value).__name__} {value!r}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_value(text: str, tp, where: str) -> Any:
    """Parse a command-line value with the type of the field it replaces."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if text.lower() in ("none", "null", "~"):
            return None
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
        origin = typing.get_origin(tp)
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{where}: expected a bool (true/false), found {text!r}")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{where}: expected int, found {text!r}") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected float, found {text!r}") from None
    if origin is list:
        if text.startswith("["):
            return yaml.safe_load(text)
        (item_tp,) = typing.get_args(tp)
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [parse_value(p, item_tp, where) for p in parts]
    return text
