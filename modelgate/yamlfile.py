"""YAML reading that remembers where every key was, refuses duplicate keys, and bounds its work.

PyYAML's `safe_load` silently keeps the last of two equal keys and forgets line numbers; both
are bad for a config that gates a deploy, so this composes the node tree first. Aliases make a
few hundred bytes stand for billions of nodes, and nesting makes the composer recurse, so the
tree is measured (expanded size, depth, cycles) in one linear pass before anything walks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelgate.errors import ModelgateError
from modelgate.regularfile import read_regular

MAX_DEPTH = 64  # the deepest file modelgate reads is nested 6 levels
MAX_NODES = 250_000  # after expanding aliases; a waivers file of ~30,000 entries
MAX_BYTES = 16 << 20  # a YAML file read at all (that waivers file: about 3 MB)
_BOOL_TAG = "tag:yaml.org,2002:bool"
# YAML 1.1 reads these as booleans; YAML 1.2 (and every reader of intent) as words.
_TRUE_FALSE = frozenset({"true", "false"})


@dataclass(frozen=True)
class LocatedYaml:
    """Parsed YAML plus the 1-based line of every key path ("policy.alpha", "classes.3").

    `yaml11_words` maps the key path of every YAML 1.1 boolean word (`no`, `on`, `Yes`, ...)
    to the word as written, so validation can refuse it instead of reading it as a boolean.
    """

    data: Any
    lines: dict[str, int]
    path: Path
    yaml11_words: dict[str, str] = field(default_factory=dict)

    def line_of(self, key_path: str) -> int | None:
        """The line of the key, or of its nearest parent that has one."""
        parts = key_path.split(".") if key_path else []
        while parts:
            line = self.lines.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return self.lines.get("", None)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting while composing and names impossible dates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_DEPTH or self._composed > MAX_NODES:
                event = self.peek_event()
                limit = (
                    f"nested deeper than {MAX_DEPTH} levels"
                    if self._depth > MAX_DEPTH
                    else f"more than {MAX_NODES:,} nodes"
                )
                raise yaml.composer.ComposerError(None, None, limit, event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date or time ({exc})", node.start_mark
            ) from None

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except (ValueError, OverflowError):  # more digits than Python converts (4,300)
            raise yaml.constructor.ConstructorError(
                None, None, f"integer too long ({len(str(node.value))} characters)", node.start_mark
            ) from None


_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _BoundedLoader.construct_yaml_timestamp
)
_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _measure(root: yaml.Node) -> tuple[int, int, bool]:
    """(expanded node count, expanded depth, has a cycle) of a node graph, in linear time.

    Aliases share node objects, so sizes are memoised per node; the walk is iterative because
    an alias chain can be far deeper than Python's recursion limit.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = min(MAX_NODES + 1, 1 + sum(size[id(c)] for c in children))
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            continue
        if key in size:
            continue
        if key in on_path:
            return 0, 0, True
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                return 0, 0, True
            if id(child) not in size:
                stack.append((child, False))
    return size[id(root)], depth[id(root)], False


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(
    node: yaml.Node,
    prefix: str,
    found: LocatedYaml,
    error: type[ModelgateError],
) -> None:
    lines, path = found.lines, found.path
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_path = f"{prefix}.{key}" if prefix else key
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL_TAG:
                raise error(
                    f"key {key!r} is read as a boolean by YAML",
                    file=path,
                    key=key_path,
                    line=line,
                    hint=f'quote it: "{key}":',
                )
            if key in seen:
                raise error(
                    f"duplicate key (first defined on line {seen[key]})",
                    file=path,
                    key=key_path,
                    line=line,
                )
            seen[key] = line
            lines[key_path] = line
            _walk(value_node, key_path, found, error)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key_path = f"{prefix}.{i}" if prefix else str(i)
            lines[key_path] = item.start_mark.line + 1
            _walk(item, key_path, found, error)
    elif (
        isinstance(node, yaml.ScalarNode)
        and node.tag == _BOOL_TAG
        and str(node.value).lower() not in _TRUE_FALSE
    ):
        found.yaml11_words[prefix] = str(node.value)


def parse_yaml(
    text: str, path: Path, error: type[ModelgateError], *, what: str = "file"
) -> LocatedYaml:
    """Parse `text` (read from `path`) with bounded work; problems are raised as `error`."""
    found = LocatedYaml(data=None, lines={}, path=path)
    try:  # the reader refuses some characters (NUL, most controls) as the loader is made
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {_first_line(exc)}", file=path) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return found
        size, depth, cyclic = _measure(node)
        if cyclic:
            raise error("malformed YAML: an alias refers to a node that contains it", file=path)
        if size > MAX_NODES:
            raise error(
                f"too large: over {MAX_NODES:,} nodes once aliases are expanded",
                file=path,
                hint=f"an alias bomb, or not a modelgate {what}",
            )
        if depth > MAX_DEPTH:
            raise error(
                f"nested deeper than {MAX_DEPTH} levels once aliases are expanded", file=path
            )
        _walk(node, "", found, error)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise error(f"malformed YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", file=path) from None
    except RecursionError:
        raise error(f"malformed YAML: nested too deeply for a {what}", file=path) from None
    except (ValueError, OverflowError) as exc:  # a scalar no constructor above anticipated
        raise error(f"malformed YAML: {_first_line(exc)}", file=path) from None
    finally:
        loader.dispose()
    return LocatedYaml(data=data, lines=found.lines, path=path, yaml11_words=found.yaml11_words)


def load_yaml(path: Path, error: type[ModelgateError], *, what: str = "file") -> LocatedYaml:
    """Read `path` safely; any problem is raised as `error` naming the file and line. Only a
    regular file of at most `MAX_BYTES` is read (a FIFO never ends, /dev/zero never stops)."""
    return parse_yaml(read_yaml_text(path, error, what=what), path, error, what=what)


def read_yaml_text(path: Path, error: type[ModelgateError], *, what: str = "file") -> str:
    """The UTF-8 text of `path`, read as `load_yaml` reads it (a regular file, bounded)."""
    try:
        text = read_regular(path, MAX_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise error(f"{what} not found", file=path) from None
    except IsADirectoryError:
        raise error(f"{what} is a folder, not a file", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what}: {_reason(exc)}", file=path) from None
    return text


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
