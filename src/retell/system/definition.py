"""Systems: which applications follow which, written as pipes.

``System(pipes=[[A, B, C], [A, D]])`` says B follows A, C follows B, and D follows
A. Pipes may form cycles: ``[[Orders, Reservations, Orders]]`` is a request and its
response (Reservations follows Orders, and Orders follows Reservations), and
``[[Echo, Echo]]`` an application that follows itself. A cycle terminates when its
policies stop producing events that the next application reacts to; each upstream
event is processed once, whatever the shape of the system.

The names mirror the `eventsourcing` library's: `nodes`, `edges`, `leads`,
`follows`, `leaders`, `followers`, `processors`, `leaders_only`, `singles`,
`get_app_cls`, `leader_cls`, `follower_cls` and `topic`.
"""

from __future__ import annotations

import inspect
import itertools
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

from retell.application.application import Application
from retell.errors import SystemDefinitionError
from retell.system.processing import ProcessApplication
from retell.topics import get_topic


class Links(dict[str, list[str]]):
    """Names to the names they lead (or follow); a name with none maps to an empty list.

    Indexing a missing name does not add it, so reading ``system.leads[name]`` for
    any application never turns it into a leader.
    """

    def __missing__(self, key: str) -> list[str]:
        return []


class System:
    """The applications of a system and the follow relations between them."""

    def __init__(self, pipes: Iterable[Sequence[type[Application]]]) -> None:
        self.pipes = [list(pipe) for pipe in pipes]
        self.classes: dict[str, type[Application]] = {}
        self.edges: list[tuple[str, str]] = []
        """(leader, follower) pairs, each once, in the order the pipes name them."""
        self.follows = Links()
        self.leads = Links()
        for pipe in self.pipes:
            self._add_pipe(pipe)
        self.nodes: dict[str, str] = {name: get_topic(cls) for name, cls in self.classes.items()}
        """Each application's name and its class's topic."""
        self.order = self._order()
        self._module = _caller_module()

    def _add_pipe(self, pipe: Sequence[type[Application]]) -> None:
        if not pipe:
            raise SystemDefinitionError("a pipe is empty: list at least one application")
        for cls in pipe:
            self._add_class(cls)
        for leader, follower in itertools.pairwise(pipe):
            if not issubclass(follower, ProcessApplication):
                raise SystemDefinitionError(
                    f"{follower.__name__} follows {leader.__name__} in a pipe, but only a "
                    "ProcessApplication can follow: make it subclass ProcessApplication."
                )
            edge = (leader.name, follower.name)
            if edge in self.edges:
                continue
            self.edges.append(edge)
            self.leads.setdefault(leader.name, []).append(follower.name)
            self.follows.setdefault(follower.name, []).append(leader.name)

    def _add_class(self, cls: type[Application]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Application)):
            raise SystemDefinitionError(f"pipes list Application classes, not {cls!r}")
        known = self.classes.get(cls.name)
        if known is not None and known is not cls:
            raise SystemDefinitionError(
                f"{known.__qualname__} and {cls.__qualname__} are both named {cls.name!r}: "
                "applications in a system need distinct names (set `name` on one of them)."
            )
        self.classes[cls.name] = cls

    def _order(self) -> list[str]:
        """Leaders before followers, except within a cycle, where no such order exists:
        the applications of a cycle come together, in the order the pipes name them.
        Otherwise in the order the pipes name them.

        Runners build, and ``sync_followers`` catches up, in this order, so that in an
        acyclic system one pass processes everything.
        """
        names = list(self.classes)
        # reach[a]: the names a leads to, directly or not. Systems are small.
        reach = {name: set(self.leads[name]) for name in names}
        changed = True
        while changed:
            changed = False
            for name in names:
                more = set[str]().union(*(reach[n] for n in reach[name])) - reach[name]
                if more:
                    reach[name] |= more
                    changed = True

        def upstream(name: str, other: str) -> bool:
            """Whether `other` must come before `name`: it leads to it, not vice versa."""
            return name in reach[other] and other not in reach[name]

        order: list[str] = []
        while len(order) < len(names):
            for name in names:
                if name in order:
                    continue
                if not any(upstream(name, other) for other in names if other not in order):
                    order += [n for n in names if n == name or _mutual(reach, name, n)]
                    break
        return order

    @property
    def leaders(self) -> list[str]:
        """Applications that others (or they themselves) follow."""
        return [name for name in self.order if name in self.leads]

    @property
    def followers(self) -> list[str]:
        return [name for name in self.order if name in self.follows]

    @property
    def processors(self) -> list[str]:
        """Applications that both follow and lead."""
        return [name for name in self.order if name in self.follows and name in self.leads]

    @property
    def leaders_only(self) -> list[str]:
        """Applications that lead and follow nothing."""
        return [name for name in self.order if name in self.leads and name not in self.follows]

    @property
    def singles(self) -> list[str]:
        """Applications that neither lead nor follow."""
        return [name for name in self.order if name not in self.leads and name not in self.follows]

    @property
    def has_cycles(self) -> bool:
        """Whether some application's events come back to it through its followers."""
        return any(
            self.order.index(leader) >= self.order.index(follower)
            for leader, follower in self.edges
        )

    def get_app_class(self, name: str) -> type[Application]:
        try:
            return self.classes[name]
        except KeyError:
            raise SystemDefinitionError(
                f"the system has no application named {name!r}; it has {', '.join(self.order)}"
            ) from None

    def get_app_cls(self, name: str) -> type[Application]:
        """The class of the application `name` (the `eventsourcing` library's spelling)."""
        return self.get_app_class(name)

    def leader_cls(self, name: str) -> type[Application]:
        """The class of the leader `name`: any application can lead, so its own class."""
        return self.get_app_class(name)

    def follower_cls(self, name: str) -> type[ProcessApplication]:
        """The class of the follower `name`."""
        cls = self.get_app_class(name)
        if name not in self.follows or not issubclass(cls, ProcessApplication):
            raise SystemDefinitionError(f"{name} follows nothing in this system")
        return cls

    @property
    def topic(self) -> str:
        """``module:attribute`` of the module attribute that holds this system, as
        ``python -m retell run`` takes it; an error if no module attribute does."""
        module = self._module
        if module is not None:
            for attribute, value in vars(module).items():
                if value is self:
                    return f"{module.__name__}:{attribute}"
        raise SystemDefinitionError(
            "this system is not a module attribute (it was made in a function, say), so it "
            "has no topic: assign it to a name at the top level of a module."
        )

    def __repr__(self) -> str:
        edges = ", ".join(f"{leader} -> {follower}" for leader, follower in self.edges)
        return f"<System {edges or ', '.join(self.order)}>"


def _mutual(reach: dict[str, set[str]], a: str, b: str) -> bool:
    """Whether `a` and `b` are in one cycle: each leads to the other."""
    return b in reach[a] and a in reach[b]


def _caller_module() -> ModuleType | None:
    """The module whose code made the system (skipping subclasses' ``__init__``)."""
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back if frame and frame.f_back else None
        while caller is not None and caller.f_code.co_name == "__init__":
            caller = caller.f_back
        name = caller.f_globals.get("__name__") if caller is not None else None
        return sys.modules.get(name) if isinstance(name, str) else None
    finally:
        del frame
