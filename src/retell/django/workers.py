"""The project's followers and projections, as the worker commands find them.

- Followers come from the project's runner, found as ``sync_followers`` finds it
  (`retell.django.runner`): its system and its env. The worker builds applications
  of its own from them; the project's runner is left alone (one that a function
  made for the asking is stopped, as nothing else uses its applications).
- Projections come from the setting ``RETELL_PROJECTIONS``: a list of dotted paths
  (``"module.function"`` or ``"module:function"``), each to a function that returns
  a `retell.projection.ProjectionRunner`. It is called anew whenever a command
  needs the projection, since the worker that runs a projection owns it (and
  closes it when it stops).

A project may have only projections: without ``RETELL_RUNNER``, and no AppConfig
holding a runner, the worker runs the projections alone.

`in_runserver` and `start_worker` let a project run its projections (and
followers) inside ``manage.py runserver`` during development, as the example
site does, so that views stay current without a second terminal.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string

from retell.django.conf import RUNNER_SETTING
from retell.django.runner import locate_runner
from retell.errors import ConfigurationError
from retell.persistence.leases import Lease
from retell.projection import ProjectionRunner
from retell.system import Runner, System
from retell.system.worker import Worker

PROJECTIONS_SETTING = "RETELL_PROJECTIONS"

_FORM = (
    f"{PROJECTIONS_SETTING} is a list of dotted paths to functions that return a "
    "retell.projection.ProjectionRunner, e.g. ['dogschool.projections.leaderboard']"
)


def projection_runners() -> list[ProjectionRunner[Any]]:
    """A new runner for each entry of ``RETELL_PROJECTIONS``, in order (not started)."""
    paths = projection_paths()
    runners: list[ProjectionRunner[Any]] = []
    try:
        for path in paths:
            runners.append(_projection_runner(path))
            name = runners[-1].projection.name
            if [r.projection.name for r in runners].count(name) > 1:
                raise ConfigurationError(
                    f"{PROJECTIONS_SETTING}: two entries make projections named {name!r}: "
                    "set a distinct `name` on one of the projection classes."
                )
    except BaseException:
        close(runners)
        raise
    return runners


def projection_paths() -> Sequence[object]:
    """The entries of ``RETELL_PROJECTIONS`` (none if unset); an error if it is no list."""
    paths = getattr(settings, PROJECTIONS_SETTING, [])
    if isinstance(paths, str) or not isinstance(paths, Sequence):
        raise ConfigurationError(f"{PROJECTIONS_SETTING}={paths!r}: {_FORM}.")
    return paths


def projection_factory(path: object) -> Callable[[], object]:
    """The function an entry names, imported and checked but not called (system checks)."""
    shown = f"{PROJECTIONS_SETTING} entry {path!r}"
    if not isinstance(path, str) or not path.strip():
        raise ConfigurationError(f"{shown} is not a dotted path: {_FORM}.")
    try:
        target = import_string(path.strip().replace(":", "."))
    except ImportError as error:
        raise ConfigurationError(f"{shown} does not import: {error}. {_FORM}.") from error
    if not callable(target) or isinstance(target, ProjectionRunner):
        raise ConfigurationError(
            f"{shown} is a {type(target).__name__}, not a function that returns a "
            "ProjectionRunner (a worker owns and closes what the function returns, so it "
            "must make a new one each time)."
        )
    factory: Callable[[], object] = target
    return factory


def _projection_runner(path: object) -> ProjectionRunner[Any]:
    shown = f"{PROJECTIONS_SETTING} entry {path!r}"
    runner = projection_factory(path)()
    if not isinstance(runner, ProjectionRunner):
        raise ConfigurationError(
            f"{shown} returned a {type(runner).__name__}, not a retell.projection.ProjectionRunner."
        )
    return runner


def close(runners: Iterable[ProjectionRunner[Any]]) -> None:
    """Stop and close projection runners that no worker took."""
    for runner in runners:
        runner.stop()


def project_system(*, required: bool) -> tuple[System, dict[str, str]] | None:
    """The system and env of the project's runner; None if nothing names or holds one
    and it is not `required`. A runner made for the asking (by the function that
    ``RETELL_RUNNER`` names) is stopped: only its system and env are used."""
    configured = getattr(settings, RUNNER_SETTING, None) is not None
    if not required and not configured and not _apps_hold_a_runner():
        return None
    runner, made = locate_runner()
    if made:
        runner.stop()
    return runner.system, runner.env


def _apps_hold_a_runner() -> bool:
    return any(
        isinstance(getattr(config, name, None), Runner)
        for config in apps.get_app_configs()
        for name in dir(config)
        if not name.startswith("_")
    )


@dataclass
class Selection:
    """The followers and projections a command works on: all, or those named."""

    system: System
    env: Mapping[str, str]
    followers: list[str]
    projections: list[ProjectionRunner[Any]] = field(default_factory=list)

    @property
    def projection_names(self) -> list[str]:
        return [runner.projection.name for runner in self.projections]

    def worker(self, *, daemon: bool = False) -> Worker:
        """A worker for the selection; it owns the projection runners from now on."""
        try:
            return Worker(self.system, self.env, self.followers, self.projections, daemon=daemon)
        except BaseException:
            close(self.projections)
            raise


def select(names: Sequence[str] = ()) -> Selection:
    """The project's followers and projections named in `names` (all when none is)."""
    projections = projection_runners()
    try:
        found = project_system(required=not projections)
        system, env = found if found is not None else (System(pipes=[]), {})
        known = [*system.followers, *(p.projection.name for p in projections)]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigurationError(
                f"no follower or projection named {', '.join(map(repr, unknown))}; "
                f"there are {_listed(system.followers, 'followers')} and "
                f"{_listed([p.projection.name for p in projections], 'projections')}"
            )
    except BaseException:
        close(projections)
        raise
    wanted = set(names)
    chosen = [p for p in projections if not wanted or p.projection.name in wanted]
    close(p for p in projections if p not in chosen)
    followers = [name for name in system.followers if not wanted or name in wanted]
    return Selection(system, env, followers, chosen)


def _listed(names: Sequence[str], what: str) -> str:
    return f"the {what} {', '.join(names)}" if names else f"no {what}"


def lease_state(lease: Lease) -> str:
    """``running`` if some worker (or rebuild) holds the lease now, else ``stopped``.

    Asks by trying to take it, and gives it straight back: a standby that tries in
    that instant tries again a second later.
    """
    if lease.acquire():
        lease.release()
        return "stopped"
    return "running"


def in_runserver(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether this process serves ``manage.py runserver`` (not the autoreloader watching it)."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return environ.get("RUN_MAIN") == "true" or "--noreload" in argv


def start_worker(names: Sequence[str] = ()) -> Worker:
    """Start a worker in this process's background, for its followers and projections.

    Its threads are daemons, stopped when the process exits; it holds the same
    leases as ``run_followers``, so a worker elsewhere simply stands by.
    """
    worker = select(names).worker(daemon=True)
    worker.start()
    atexit.register(worker.stop)
    return worker
