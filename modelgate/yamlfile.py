"""YAML reading that remembers where every key was, and refuses duplicate keys.

PyYAML's `safe_load` silently keeps the last of two equal keys and forgets line numbers; both
are bad for a config that gates a deploy, so this composes the node tree first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelgate.errors import ModelgateError


@dataclass(frozen=True)
class LocatedYaml:
    """Parsed YAML plus the 1-based line of every key path ("policy.alpha", "classes.3")."""

    data: Any
    lines: dict[str, int]
    path: Path

    def line_of(self, key_path: str) -> int | None:
        """The line of the key, or of its nearest parent that has one."""
        parts = key_path.split(".") if key_path else []
        while parts:
            line = self.lines.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return self.lines.get("", None)


def _walk(
    node: yaml.Node, prefix: str, lines: dict[str, int], error: type[ModelgateError], path: Path
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_path = f"{prefix}.{key}" if prefix else key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise error(
                    f"duplicate key (first defined on line {seen[key]})",
                    file=path,
                    key=key_path,
                    line=line,
                )
            seen[key] = line
            lines[key_path] = line
            _walk(value_node, key_path, lines, error, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key_path = f"{prefix}.{i}" if prefix else str(i)
            lines[key_path] = item.start_mark.line + 1
            _walk(item, key_path, lines, error, path)


def load_yaml(path: Path, error: type[ModelgateError], *, what: str = "file") -> LocatedYaml:
    """Read `path` safely; any problem is raised as `error` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what}: {exc}", file=path) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict[str, int] = {}
        if node is not None:
            _walk(node, "", lines, error, path)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise error(f"malformed YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", file=path) from None
    return LocatedYaml(data=data, lines=lines, path=path)
