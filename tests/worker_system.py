"""A system for the worker tests: its follower logs which process handled each event.

The log (path in env WORKER_LOG) lets tests check that no event was processed twice
and that two processes never processed at the same time.
"""

from __future__ import annotations

import os
import time
from typing import Any

from retell.domain.events import DomainEvent
from retell.system import ProcessApplication, ProcessingEvent, System
from tests.dogschool import Dog, TrainingSchool
from tests.test_system import Counter


class SlowCounters(ProcessApplication):
    name = "Counters"
    topics = (Dog.TrickAdded,)

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        position = processing_event.tracking.notification_id
        delay = float(os.environ.get("WORKER_DELAY", "0"))
        if delay:
            time.sleep(delay)
        counter: Any = Counter(f"{domain_event.originator_id}/{position}")
        counter.increment()
        processing_event.collect_events(counter)
        with open(os.environ["WORKER_LOG"], "a") as log:
            log.write(f"{os.getpid()} {position} {time.monotonic()}\n")


system = System(pipes=[[TrainingSchool, SlowCounters]])
