"""Run the fake AIC server: ``python -m fake_aic --data sample_data/aic``."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

from fake_aic.server import FakeAIC

if TYPE_CHECKING:
    from types import FrameType


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve recorded AIC records and images.")
    parser.add_argument("--data", default="sample_data/aic", help="dir with records/ and images/")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    args = parser.parse_args(argv)

    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    # Handle both so `docker stop` / process managers shut it down cleanly too.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    with FakeAIC(args.data, host=args.host, port=args.port) as fake:
        print(f"Fake AIC API:  {fake.api_url}  ({len(fake.records)} records)", flush=True)
        print(f"Fake AIC IIIF: {fake.iiif_url}", flush=True)
        # Short waits keep the main thread responsive to signals on every platform.
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
