"""The README's "In pytest" option table is the plugin's options, and the ids and marker it
documents are the ones the plugin uses."""

from __future__ import annotations

import re
from pathlib import Path

from modelgate import pytest_plugin

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section() -> str:
    text = README[README.index("\n## In pytest\n") :]
    return text[: text.index("\n## ", 1)]


class Recorder:
    """Stands in for pytest's parser: records the names the plugin registers."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def getgroup(self, *_: object) -> Recorder:
        return self

    def addoption(self, *names: str, **_: object) -> None:
        self.names.update(names)

    def addini(self, name: str, *_: object, **__: object) -> None:
        self.names.add(name)


def test_the_table_is_every_option_and_ini_key() -> None:
    parser = Recorder()
    pytest_plugin.pytest_addoption(parser)  # type: ignore[arg-type]
    documented = set(re.findall(r"^\| `([-\w]+)[ `]", section(), re.M))
    assert documented == parser.names


def test_the_documented_ids_are_the_plugins() -> None:
    text = section()
    assert f"`{pytest_plugin.NODE}::accuracy`" in text and "marked `modelgate`" in text
