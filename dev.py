"""The project's two entry points, usable on a machine that has nothing but Python.

    python3 dev.py example   # serves the example site on http://127.0.0.1:8000
    python3 dev.py test      # lint, type-check, every test, and the docs build

Each command makes (or reuses) the virtual environment `.venv` and installs the project
into it with everything the command needs, so a fresh clone needs no other step. The
install is skipped when pyproject.toml has not changed since the last one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".retell-installed"


def run(*args: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    """Create .venv and install retell with its extras, once per pyproject.toml version."""
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[all,dev]")
    mariadb = [PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[test-mariadb]"]
    if subprocess.run([str(a) for a in mariadb], cwd=ROOT, check=False).returncode != 0:
        print(
            "note: mysqlclient did not install (it needs: apt-get install "
            "default-libmysqlclient-dev pkg-config); the MariaDB tests will be skipped",
            flush=True,
        )
    STAMP.write_text(digest)


EXAMPLE = ROOT / "examples" / "dogschool" / "manage.py"
EXAMPLE_URL = "http://127.0.0.1:8000"


def example() -> None:
    """Set up the dog school site (migrate, sample data, user admin/admin) and serve it.

    The setup is idempotent: a second run keeps the database and adds nothing.
    """
    ensure_venv()
    run(PYTHON, EXAMPLE, "setup_example")
    print(
        f"\nThe dog school: {EXAMPLE_URL}/\n"
        f"Its admin:      {EXAMPLE_URL}/admin/  (user admin, password admin)\n"
        "Stop it with Ctrl-C.\n",
        flush=True,
    )
    try:
        run(PYTHON, EXAMPLE, "runserver", "127.0.0.1:8000")
    except KeyboardInterrupt:
        print("\nStopped.")


def test(pytest_args: list[str]) -> None:
    ensure_venv()
    sources = ("src", "tests", "benchmarks", "examples", "dev.py")
    run(BIN / "ruff", "check", *sources)
    run(BIN / "ruff", "format", "--check", *sources)
    run(BIN / "mypy")
    run(PYTHON, "-m", "pytest", *pytest_args)
    run(BIN / "mkdocs", "build", "--strict", "--quiet", "--site-dir", ROOT / "build" / "site")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"example", "test"}:
        sys.exit("usage: python3 dev.py example | python3 dev.py test [pytest arguments]")
    if sys.argv[1] == "example":
        example()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
