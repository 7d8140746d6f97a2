"""Systems: which applications follow which, written as pipes.

``System(pipes=[[A, B, C], [A, D]])`` says B follows A, C follows B, and D follows
A. Cycles are refused: in a cycle each application waits on the other's events, so
no order of processing is complete, and one policy feeding another without end is
the usual result. Break a cycle by merging the two applications, or by making one
of them query the other instead of following it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from retell.application.application import Application
from retell.errors import SystemDefinitionError
from retell.system.processing import ProcessApplication


class System:
    """The applications of a system and the follow relations between them."""

    def __init__(self, pipes: Iterable[Sequence[type[Application]]]) -> None:
        self.pipes = [list(pipe) for pipe in pipes]
        self.classes: dict[str, type[Application]] = {}
        self.follows: dict[str, list[str]] = {}
        self.leads: dict[str, list[str]] = {}
        for pipe in self.pipes:
            self._add_pipe(pipe)
        self._check_acyclic()
        self.order = self._topological_order()

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
            if leader is follower:
                raise SystemDefinitionError(f"{leader.__name__} cannot follow itself")
            followers = self.leads.setdefault(leader.name, [])
            if follower.name not in followers:
                followers.append(follower.name)
            leaders = self.follows.setdefault(follower.name, [])
            if leader.name not in leaders:
                leaders.append(leader.name)

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

    def _check_acyclic(self) -> None:
        state: dict[str, str] = {}  # "active" while on the DFS path, "done" after

        def visit(name: str, path: list[str]) -> None:
            state[name] = "active"
            for follower in self.leads.get(name, []):
                if state.get(follower) == "active":
                    cycle = [*path[path.index(follower) :], follower]
                    raise SystemDefinitionError(
                        f"the pipes make a cycle: {' -> '.join(cycle)}. Systems must not "
                        "have cycles; see retell.system.definition for ways to break one."
                    )
                if follower not in state:
                    visit(follower, [*path, follower])
            state[name] = "done"

        for name in self.classes:
            if name not in state:
                visit(name, [name])

    def _topological_order(self) -> list[str]:
        """Leaders before followers; otherwise in the order the pipes name them."""
        order: list[str] = []
        placed: set[str] = set()
        while len(order) < len(self.classes):
            for name in self.classes:
                leaders = self.follows.get(name, [])
                if name not in placed and all(lead in placed for lead in leaders):
                    order.append(name)
                    placed.add(name)
        return order

    @property
    def leaders(self) -> list[str]:
        return [name for name in self.order if name in self.leads]

    @property
    def followers(self) -> list[str]:
        return [name for name in self.order if name in self.follows]

    @property
    def processors(self) -> list[str]:
        """Applications that both follow and lead."""
        return [name for name in self.order if name in self.follows and name in self.leads]

    def get_app_class(self, name: str) -> type[Application]:
        try:
            return self.classes[name]
        except KeyError:
            raise SystemDefinitionError(
                f"the system has no application named {name!r}; it has {', '.join(self.order)}"
            ) from None
