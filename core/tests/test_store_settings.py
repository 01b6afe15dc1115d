"""ARTIFACT_STORE_URL is checked when the settings load: a value that names no store stops the process
and names the variable; a folder or a bucket loads, with the folder store the default, and the bucket's
keys may be read from files (compose and Kubernetes secrets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.tests.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS

ROOT = Path(__file__).resolve().parents[2]
# Loads the settings, prints where the store is, and, given PROBE (a file), stores it and says whether it is there.
PRINT_STORE = """
import os, pathlib, django
django.setup()
from core.artifacts import artifact_store
store = artifact_store()
print(store.location)
if os.environ.get("PROBE"):
    store.upload(pathlib.Path(os.environ["PROBE"]), "probe/file")
    print(store.exists("probe/file"))
"""


def _load(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_STORE_")}
    clean.update(
        DJANGO_SETTINGS_MODULE="museum_site.settings",
        SECRET_KEY="k",
        DATABASE_URL="postgresql://u@localhost/db",
        VAR_DIR=str(tmp_path),
        **env,
    )
    return subprocess.run([sys.executable, "-c", PRINT_STORE], cwd=ROOT, env=clean, capture_output=True, text=True)


@pytest.mark.parametrize("url", ["relative/folder", "ftp://host/x", "s3://Bad_Bucket/x"])
def test_a_url_that_names_no_store_stops_the_settings(tmp_path: Path, url: str) -> None:
    result = _load(tmp_path, ARTIFACT_STORE_URL=url)

    assert result.returncode != 0
    assert f"ARTIFACT_STORE_URL={url!r}" in result.stderr


def test_the_default_is_a_folder_under_var_dir(tmp_path: Path) -> None:
    result = _load(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"the folder store {tmp_path / 'artifacts'}"


def test_a_bucket_reached_with_keys_read_from_files(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    (tmp_path / "key").write_text(ACCESS_KEY + "\n")
    (tmp_path / "secret").write_text(SECRET_KEY + "\n")
    (tmp_path / "probe").write_bytes(b"probe")
    result = _load(
        tmp_path,
        ARTIFACT_STORE_URL=f"s3://{BUCKET}/settings-probe",
        ARTIFACT_STORE_ENDPOINT_URL=seaweedfs.endpoint,
        ARTIFACT_STORE_ACCESS_KEY_ID_FILE=str(tmp_path / "key"),
        ARTIFACT_STORE_SECRET_ACCESS_KEY_FILE=str(tmp_path / "secret"),
        PROBE=str(tmp_path / "probe"),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"the store s3://{BUCKET}/settings-probe at {seaweedfs.endpoint}", "True"]
