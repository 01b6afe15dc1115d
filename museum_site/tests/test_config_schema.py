"""Every variable the settings read is declared in the schema, and the files generated from it are current."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from museum_site import config_schema

SETTINGS = Path(config_schema.__file__).with_name("settings.py")


def _settings_reads() -> tuple[set[str], list[str]]:
    """The names settings.py passes to the schema's readers, and any read that bypasses them."""
    tree = ast.parse(SETTINGS.read_text())
    names, bypasses = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("read_"):
            argument = node.args[0]
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                bypasses.append(ast.unparse(node))
            else:
                names.add(argument.value)
        elif _reads_the_environment_directly(node):
            bypasses.append(ast.unparse(node))
    return names, bypasses


def _reads_the_environment_directly(node: ast.AST) -> bool:
    helper = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("env_")
    return helper or (isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"})


def test_settings_read_only_declared_names_through_the_schema() -> None:
    names, bypasses = _settings_reads()
    assert bypasses == [], "settings.py must read the environment only through museum_site/config_schema.py"
    assert sorted(names - set(config_schema.DECLARED)) == []


def test_every_declared_name_is_read_by_the_settings_or_marked_as_read_elsewhere() -> None:
    names, _ = _settings_reads()
    unread = [v.name for v in config_schema.SCHEMA if v.name not in names and not v.elsewhere]
    assert unread == []


def test_generated_files_are_current() -> None:
    stale = [str(path.relative_to(config_schema.ROOT)) for path in config_schema.stale_files()]
    assert stale == [], f"{', '.join(stale)} out of date with the schema: run `{config_schema.REGENERATE}`"


def test_readers_refuse_an_undeclared_name_or_another_kind() -> None:
    with pytest.raises(LookupError, match="not declared"):
        config_schema.read_int("NOT_A_SETTING")
    with pytest.raises(TypeError, match="declared as int"):
        config_schema.read_str("AIC_PAGE_SIZE")


def test_the_reference_names_every_variable_once() -> None:
    documented = re.findall(r"^\| `([A-Z0-9_]+)`", (config_schema.ROOT / "docs" / "configuration.md").read_text(), re.M)
    assert sorted(documented) == sorted(config_schema.DECLARED)
