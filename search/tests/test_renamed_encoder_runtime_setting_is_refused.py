"""SEARCH_TEXT_RUNTIME became SEARCH_ENCODER_RUNTIME (it governs image queries too): a process where
the old name is still set stops, naming the new one, rather than silently taking the default."""

from __future__ import annotations

import os
import subprocess
import sys

from museum_site.tests.processes import ROOT

READ_RUNTIME = "from django.conf import settings; print(settings.SEARCH_ENCODER_RUNTIME)"


def _settings_process(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SEARCH_TEXT_RUNTIME", "SEARCH_ENCODER_RUNTIME")}
    clean.update(env, DJANGO_SETTINGS_MODULE="museum_site.settings", SECRET_KEY="k", DATABASE_URL="postgresql://u@h/d")
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {READ_RUNTIME}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_the_old_name_stops_the_process_and_names_its_replacement() -> None:
    result = _settings_process(SEARCH_TEXT_RUNTIME="torch")
    assert result.returncode != 0
    assert "SEARCH_TEXT_RUNTIME was replaced by SEARCH_ENCODER_RUNTIME" in result.stderr
    # Even beside the new name: the old one would otherwise be read as meaning something.
    result = _settings_process(SEARCH_TEXT_RUNTIME="onnx", SEARCH_ENCODER_RUNTIME="onnx")
    assert result.returncode != 0 and "SEARCH_ENCODER_RUNTIME" in result.stderr


def test_the_new_name_is_read_and_defaults_to_onnx() -> None:
    assert _settings_process(SEARCH_ENCODER_RUNTIME="torch").stdout.strip() == "torch"
    assert _settings_process().stdout.strip() == "onnx"
    refused = _settings_process(SEARCH_ENCODER_RUNTIME="tensorflow")
    assert refused.returncode != 0 and "SEARCH_ENCODER_RUNTIME" in refused.stderr
