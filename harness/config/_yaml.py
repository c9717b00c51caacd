"""YAML reading that remembers where every value came from, so errors name ``file:line: field``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

__all__ = [
    "Located",
    "display_path",
    "format_path",
    "format_validation_error",
    "load_yaml_located",
    "located_json_line",
    "validate_located",
]

PathKey = tuple[str | int, ...]


class Located:
    """Parsed data plus a map from data paths (``("endpoints", 1, "model")``) to 1-based line numbers."""

    def __init__(self, file: str, data: Any, lines: dict[PathKey, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line_of(self, path: PathKey) -> int:
        """Line of the deepest known prefix of ``path`` (1 when nothing is known)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return 1

    def problem(self, path: PathKey, message: str) -> str:
        field = format_path(path)
        prefix = f"{self.file}:{self.line_of(path)}"
        return f"{prefix}: {field}: {message}" if field else f"{prefix}: {message}"


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


MAX_NODES = 100_000
"""Values a user file may expand to: aliases make a tiny file arbitrarily large ("billion laughs")."""
MAX_DEPTH = 64
"""Nesting a user file may have; configs are a few levels deep."""


def _construct(
    node: yaml.Node,
    path: PathKey,
    lines: dict[PathKey, int],
    file: str,
    loader: yaml.SafeLoader,
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _LocatedYamlError(
            f"{file}:{node.start_mark.line + 1}: yaml: the document expands to more than "
            f"{MAX_NODES} values (aliases?); refusing to load it"
        )
    if len(path) > MAX_DEPTH:
        raise _LocatedYamlError(
            f"{file}:{node.start_mark.line + 1}: yaml: nested more than {MAX_DEPTH} levels deep"
        )
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = (
                loader.construct_object(key_node, deep=True)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            if key is None or not isinstance(key, str | int | float | bool):
                raise _LocatedYamlError(
                    f"{file}:{key_node.start_mark.line + 1}: mapping keys must be plain text"
                )
            key_path = (*path, str(key))
            if str(key) in out:
                raise _LocatedYamlError(
                    f"{file}:{key_node.start_mark.line + 1}: {format_path(key_path)}: duplicate key"
                )
            lines[key_path] = key_node.start_mark.line + 1
            out[str(key)] = _construct(value_node, key_path, lines, file, loader, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, i), lines, file, loader, budget) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


class _LocatedYamlError(Exception):
    pass


def load_yaml_located(path: Path) -> Located:
    """Read one YAML document. Raises ``ConfigError`` with ``file:line: message`` on syntax errors."""
    from harness._errors import ConfigError  # local: keep this module free of cycles

    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown}:1: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{shown}:1: cannot read file: {exc}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError([f"{shown}:1: yaml: nested too deeply to read"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{shown}:{line}: yaml: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{shown}:1: yaml: {exc}"]) from None
    if node is None:
        raise ConfigError([f"{shown}:1: file is empty"])
    lines: dict[PathKey, int] = {}
    loader = yaml.SafeLoader("")
    try:
        data = _construct(node, (), lines, shown, loader, [MAX_NODES])
    except _LocatedYamlError as exc:
        raise ConfigError([str(exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{shown}:1: yaml: {exc}"]) from None
    finally:
        loader.dispose()
    return Located(shown, data, lines)


def located_json_line(file: str, line_no: int, text: str) -> Located:
    """One JSONL line as ``Located`` (every path maps to that line)."""
    data = json.loads(text)
    return _FlatLocated(file, data, line_no)


class _FlatLocated(Located):
    def __init__(self, file: str, data: Any, line: int) -> None:
        super().__init__(file, data, {(): line})


_PLAIN_TYPES = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "tuple"})


def _is_tag(part: str) -> bool:
    """A pydantic location part that names a union member or a validator, not a key: 'str', 'FaultSpec',
    'function-after[_needs(), FaultSpec]' (the keys of bakeoff's files are lower-case words)."""
    return "[" in part or part[:1].isupper() or part in _PLAIN_TYPES


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[PathKey, bool]:
    """Keep only the parts of a pydantic ``loc`` that index into the data, dropping union and validator
    tags (``('fault', 'FaultSpec', 'kind')`` → ``('fault', 'kind')``); and whether a tag was dropped."""
    out: list[str | int] = []
    cur = data
    tagged = False
    for part in loc:
        if isinstance(cur, dict) and isinstance(part, str):
            if part in cur or not _is_tag(part):
                out.append(part)
                cur = cur.get(part)
            else:
                tagged = True
        elif isinstance(cur, list) and isinstance(part, int):
            out.append(part)
            cur = cur[part] if 0 <= part < len(cur) else None
        elif cur is None and isinstance(part, str | int):
            if isinstance(part, str) and _is_tag(part):
                tagged = True
            else:
                out.append(part)
        else:
            tagged = True
    return tuple(out), tagged


_TYPE_MISMATCH = frozenset(
    {
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
        "list_type",
        "dict_type",
        "model_type",
        "int_parsing",
        "float_parsing",
        "bool_parsing",
    }
)


def format_validation_error(
    located: Located, exc: ValidationError, base: PathKey = (), model: type[BaseModel] | None = None
) -> list[str]:
    """One ``file:line: field.path: message`` line per pydantic error, deduplicated, in input order.

    With ``model`` (the one validated), an unknown key names the nearest accepted one when it looks
    like a typo: ``contenders[0].retires: unknown key (did you mean 'retries'?)``.
    """
    from harness.config._modeltree import suggest_key  # local: _modeltree imports harness._model

    problems: list[str] = []
    seen: set[str] = set()
    errors = exc.errors(include_url=False)
    data = _get(located.data, base)
    located_errors = [(err, *_data_path(data, tuple(err["loc"]))) for err in errors]
    # A value that fits no member of a union gets one error per member; the members of another type than
    # the value (e.g. "not a string" for an inline fault mapping) only add noise when another says why.
    informative = {loc for err, loc, tagged in located_errors if tagged and err["type"] not in _TYPE_MISMATCH}
    for err, loc, tagged in located_errors:
        if tagged and err["type"] in _TYPE_MISMATCH and any(k[: len(loc)] == loc for k in informative):
            continue
        path = (*base, *loc)
        msg = str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            near = suggest_key(model, tuple(err["loc"])) if model is not None else None
            if near is not None:
                msg += f" (did you mean {near!r}?)"
        elif err["type"] == "missing":
            msg = "required field missing"
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] in _TYPE_MISMATCH:
            msg = f"{msg} (got {_short(err.get('input'))})"
        line = located.problem(path, msg)
        if line not in seen:
            seen.add(line)
            problems.append(line)
    return problems


def _get(data: Any, path: PathKey) -> Any:
    for part in path:
        data = data[part]
    return data


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_located(model: type[BaseModel], located: Located, base: PathKey = ()) -> tuple[Any, list[str]]:
    """Validate ``located.data`` (or the part at ``base``) against ``model``; (instance or None, problems)."""
    try:
        return model.model_validate(_get(located.data, base)), []
    except ValidationError as exc:
        return None, format_validation_error(located, exc, base, model)
