"""Run the Django store's tests under Django 6, in the virtual environment .venv-django6.

    python3 tests/django/run_django6.py [--require] [pytest arguments]

Django 6 needs Python 3.12 or newer, and the project's .venv may be older, so this
makes (or reuses) .venv-django6 with such a Python, installs retell with Django 6
into it, and runs tests/django there. The Python is, in order: $RETELL_PYTHON312,
what ``uv python find '>=3.12'`` finds, python3.13 or python3.12 on PATH, or a pyenv
install. Without one it says so and exits 0 (1 with --require, for CI). The install is
skipped while pyproject.toml and this file are unchanged.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-django6"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".retell-installed"
PACKAGES = ["Django>=6,<7", "pytest>=8", "pytest-timeout>=2.3", "mysqlclient>=2.2.1"]


def find_python() -> str | None:
    """A Python of at least 3.12: the one named, or the first found."""
    candidates = [os.environ.get("RETELL_PYTHON312", "")]
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run(
            [uv, "python", "find", ">=3.12"], capture_output=True, text=True, check=False
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else "")
    candidates += [shutil.which(name) or "" for name in ("python3.13", "python3.12")]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv}/versions/3.1[2-9]*/bin/python3"), reverse=True)
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; assert sys.version_info >= (3, 12)"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def run(*args: str | Path) -> None:
    print("+", " ".join(map(str, args)), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(python: str) -> None:
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + Path(__file__).read_bytes()
    ).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    uv = shutil.which("uv")
    if uv:
        run(uv, "venv", "--quiet", "--allow-existing", "--python", python, VENV)
        install = [uv, "pip", "install", "--quiet", "--python", str(PYTHON)]
    else:
        run(python, "-m", "venv", VENV)
        install = [str(PYTHON), "-m", "pip", "install", "--quiet"]
    run(*install, "-e", f"{ROOT}[postgres]", *PACKAGES)
    STAMP.write_text(digest)


def main() -> None:
    args = sys.argv[1:]
    require = "--require" in args
    args = [a for a in args if a != "--require"]
    python = find_python()
    if python is None:
        print("Django 6 tests NOT RUN: no Python 3.12 or newer found", file=sys.stderr)
        sys.exit(1 if require else 0)
    ensure_venv(python)
    run(PYTHON, "-c", "import django, sys; print('Django', django.__version__, 'on', sys.version)")
    run(PYTHON, "-m", "pytest", "tests/django", "-p", "no:cacheprovider", *args)


if __name__ == "__main__":
    main()
