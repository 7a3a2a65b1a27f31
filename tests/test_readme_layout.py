"""The README's "Layout: one engine, three doors" section against the tree it describes: every
module of `modelgate/` is in the table, every file it names exists, the layers are the ones
`tests/test_layering.py` enforces, and each "where does X go?" step names what is really there."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import get_args

import pytest
from test_layering import FRONT_ENDS, RECORDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "modelgate"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def layout_section() -> str:
    start = README.index("### Layout: one engine, three doors")
    end = README.find("\n## ", start)
    return README[start : end if end != -1 else len(README)]


def table_rows() -> dict[str, list[str]]:
    """layer -> the backticked names in its `modules` cell."""
    rows: dict[str, list[str]] = {}
    for line in layout_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and cells[0] not in ("layer", "---"):
            rows[cells[0]] = re.findall(r"`([^`]+)`", cells[1])
    return rows


def guidance() -> str:
    section = layout_section()
    return section[section.index("Where does X go?") :]


def named_files(names: list[str]) -> set[str]:
    """The `x.py` and `x/` entries of a cell, as paths under modelgate/ (engine modules under
    engine/: the cell lists them after `engine/`)."""
    files = set()
    folder = ""
    for name in names:
        if name.endswith("/"):
            folder = name if name == "engine/" else ""
            files.add(name)
        elif re.fullmatch(r"\w+\.py", name):
            files.add(folder + name)
        elif re.fullmatch(r"[\w/]+\.py", name):  # a module inside a layer's folder
            assert (PACKAGE / name).is_file(), name
    return files


def test_the_table_has_the_four_layers() -> None:
    assert list(table_rows()) == ["front ends", "engine", "layers", "records"]


def test_every_module_and_package_is_in_the_table() -> None:
    named = set().union(*(named_files(names) for names in table_rows().values()))
    tree = {p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    tree |= {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    tree |= {f"engine/{p.name}" for p in (PACKAGE / "engine").glob("*.py")}
    tree.discard("engine/__init__.py")
    assert sorted(tree - named) == []  # in the tree, not in the README
    assert sorted(named - tree) == []  # in the README, not in the tree


def test_the_tables_front_ends_and_records_are_the_layering_tests() -> None:
    rows = table_rows()
    as_modules = {f"modelgate.{name.removesuffix('.py')}" for name in named_files(rows["records"])}
    assert as_modules == RECORDS
    front = {f"modelgate.{n.removesuffix('.py')}" for n in named_files(rows["front ends"])}
    assert front == FRONT_ENDS - {"modelgate", "modelgate.__main__"}


def test_every_path_the_guidance_names_exists() -> None:
    text = guidance()
    paths = re.findall(r"`((?:tests/)?[\w/]+(?:\.py|/))`", text)
    assert len(paths) > 8
    for path in paths:
        where = ROOT / path if path.startswith("tests/") else PACKAGE / path
        assert where.exists(), path
    for path in re.findall(r"`(tests/[\w/]+\.py)`", layout_section()):
        assert (ROOT / path).is_file(), path


def test_every_module_attribute_the_guidance_names_exists() -> None:
    """`models/load.py`'s `LOADERS`, `result.CheckName`, `modelgate.api.run_check` ..."""
    text = guidance()
    owned = re.findall(r"`([\w/]+)\.py`'s `(\w+)`", text)
    dotted = re.findall(r"`((?:modelgate\.)?(?:result|policy|api|inference)\.\w+)`", text)
    attributes = [(m.replace("/", ".").removesuffix(".__init__"), n) for m, n in owned]
    for name in dotted:
        module, _, attribute = name.removeprefix("modelgate.").rpartition(".")
        if module == "policy" and attribute == "alpha":
            continue  # the config key `policy.alpha`
        if module == "inference" and attribute in ("batch_size", "engine"):
            continue  # config keys
        attributes.append((module, attribute))
    assert ("models.load", "LOADERS") in attributes and ("api", "run_check") in attributes
    for module, attribute in attributes:
        assert hasattr(importlib.import_module(f"modelgate.{module}"), attribute), (
            module,
            attribute,
        )


def test_the_loader_interface_is_as_the_guidance_writes_it() -> None:
    from modelgate.models.interface import ModelLoader

    shown = re.search(r"`load\(([^)]*)\) -> (\w+)`", guidance())
    assert shown, "the guidance shows ModelLoader.load's signature"
    signature = inspect.signature(ModelLoader.load)
    assert [p for p in signature.parameters if p != "self"] == shown.group(1).split(", ")
    assert signature.return_annotation == shown.group(2)


@pytest.mark.parametrize(
    ("family", "registry"),
    [("ModelFormat", "models.load:LOADERS"), ("ReportFormat", "report:FORMATS")],
)
def test_a_new_format_needs_only_the_places_the_guidance_names(family: str, registry: str) -> None:
    """Each config value of a plug-in family has its registry entry, and the guidance names
    both, so following it is enough."""
    from modelgate import config

    module, _, name = registry.partition(":")
    entries = set(getattr(importlib.import_module(f"modelgate.{module}"), name))
    values = set(get_args(getattr(config, family))) - {"auto"}
    assert values == entries
    text = guidance()
    assert f"`config.{family}`" in text and f"`{name}`" in text
    if family == "ReportFormat":
        from modelgate.report import DEFAULT_FILENAMES

        assert set(DEFAULT_FILENAMES) == entries and "`DEFAULT_FILENAMES`" in text
