#!/usr/bin/env python
"""Django's command line, which in a development checkout also prepares its key and database (devtools/checkout.py)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum_site.settings")
    from devtools.checkout import prepare

    prepare(sys.argv)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
