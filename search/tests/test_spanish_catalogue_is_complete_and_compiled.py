"""The Spanish catalogue is whole: every string has a translation, none is fuzzy, and the committed
django.mo is what the django.po compiles to, so a new untranslated string (or a forgotten
`make messages`) fails here rather than on a visitor's page."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

LOCALE = ROOT / "locale" / "es" / "LC_MESSAGES"
PO = LOCALE / "django.po"
MO = LOCALE / "django.mo"


def _entries(po: Path) -> list[tuple[str, str, list[str]]]:
    """(msgid, msgstr, flags) of every entry but the header, read as gettext writes them."""
    entries = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        flags = [flag.strip() for line in block.splitlines() if line.startswith("#,") for flag in line[2:].split(",")]
        fields: dict[str, str] = {}
        current = ""
        for line in block.splitlines():
            if match := re.match(r"^(msgid|msgstr|msgid_plural|msgstr\[\d+\]) (\".*\")$", line):
                current = match.group(1)
                fields[current] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and current:
                fields[current] += ast.literal_eval(line)
        if fields.get("msgid"):
            entries.append((fields["msgid"], fields.get("msgstr", fields.get("msgstr[0]", "")), flags))
    return entries


def test_every_string_has_a_spanish_translation_and_none_is_fuzzy() -> None:
    entries = _entries(PO)
    assert len(entries) > 50  # the pages' strings were found
    assert [msgid for msgid, msgstr, _ in entries if not msgstr.strip()] == []
    assert [msgid for msgid, _, flags in entries if "fuzzy" in flags] == []
    assert "#, fuzzy" not in PO.read_text(encoding="utf-8")  # the header too


def test_the_translations_keep_every_placeholder() -> None:
    for msgid, msgstr, _ in _entries(PO):
        assert sorted(re.findall(r"%\(\w+\)s|\{\w+\}", msgid)) == sorted(re.findall(r"%\(\w+\)s|\{\w+\}", msgstr)), (
            msgid
        )


def test_the_committed_mo_is_the_compiled_po(tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.fail("msgfmt is not installed: `make tools` installs Debian's gettext package")
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check", "-o", str(fresh), str(PO)], check=True, capture_output=True)
    with fresh.open("rb") as compiled, MO.open("rb") as committed:
        expected = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
        shipped = gettext.GNUTranslations(committed)._catalog  # type: ignore[attr-defined]
    assert shipped == expected, "run `make messages` and commit locale/es/LC_MESSAGES/django.mo"
    # Every entry and the header; a plural entry is one key per plural form.
    assert len({key[0] if isinstance(key, tuple) else key for key in expected}) == len(_entries(PO)) + 1
