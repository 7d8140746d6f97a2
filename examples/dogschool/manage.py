#!/usr/bin/env python3
"""The example site's manage.py: ``python3 dev.py example`` runs it for you."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from anywhere: the project's packages are beside this file.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "website.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
