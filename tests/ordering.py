"""A processing loop: an order goes out to two applications and comes back.

Orders places an order. Reservations follows Orders and reserves stock for each new
order; Orders follows Reservations and marks the order reserved. Payments follows
Orders and charges each reserved order; Orders follows Payments and marks the order
paid. Orders also follows itself: a paid order is completed by Orders reacting to
its own event. Reservations and payments get random ids, so a policy run twice for
one upstream event would show up as a second reservation or payment.
"""

from __future__ import annotations

from collections import Counter
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from retell import Aggregate, event
from retell.application.application import Application
from retell.domain.events import DomainEvent
from retell.system import ProcessApplication, ProcessingEvent, System
from retell.topics import get_topic


class Order(Aggregate):
    @event("Placed")
    def __init__(self, customer: str, amount: int) -> None:
        self.customer = customer
        self.amount = amount
        self.reservation_id: UUID | None = None
        self.payment_id: UUID | None = None
        self.is_completed = False

    @event("Reserved")
    def mark_reserved(self, reservation_id: UUID) -> None:
        self.reservation_id = reservation_id

    @event("Paid")
    def mark_paid(self, payment_id: UUID) -> None:
        self.payment_id = payment_id

    @event("Completed")
    def complete(self) -> None:
        self.is_completed = True


class Reservation(Aggregate):
    @event("Made")
    def __init__(self, order_id: UUID) -> None:
        self.order_id = order_id


class Payment(Aggregate):
    @event("Taken")
    def __init__(self, order_id: UUID, amount: int) -> None:
        self.order_id = order_id
        self.amount = amount


class Orders(ProcessApplication):
    """Reads every event of its leaders, its own included (no `topics`)."""

    def place(self, customer: str, amount: int) -> UUID:
        order = Order(customer, amount)
        self.save(order)
        return order.id

    def get_order(self, order_id: UUID) -> Any:
        return self.repository.get(order_id)

    @singledispatchmethod
    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        pass  # placed, reserved, completed: nothing to do

    @policy.register
    def _(self, domain_event: Reservation.Made, processing_event: ProcessingEvent) -> None:
        order: Any = self.repository.get(domain_event.order_id)  # type: ignore[attr-defined]
        order.mark_reserved(domain_event.originator_id)
        processing_event.collect_events(order)

    @policy.register
    def _(self, domain_event: Payment.Taken, processing_event: ProcessingEvent) -> None:
        order: Any = self.repository.get(domain_event.order_id)  # type: ignore[attr-defined]
        order.mark_paid(domain_event.originator_id)
        processing_event.collect_events(order)

    @policy.register
    def _(self, domain_event: Order.Paid, processing_event: ProcessingEvent) -> None:
        order: Any = self.repository.get(domain_event.originator_id)
        order.complete()
        processing_event.collect_events(order)


class Reservations(ProcessApplication):
    topics = (Order.Placed,)

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        processing_event.collect_events(Reservation(domain_event.originator_id))


class Payments(ProcessApplication):
    topics = (Order.Reserved,)
    price = 10

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        processing_event.collect_events(Payment(domain_event.originator_id, self.price))


system = System(pipes=[[Orders, Reservations, Orders, Payments, Orders, Orders]])

NAMES = ("Orders", "Reservations", "Payments")


def topics_recorded(app: Application) -> Counter[str]:
    """How many events of each topic the application's log holds."""
    return Counter(n.topic for n in app.notification_log.select(1, 100_000))


def completed(orders: Application) -> int:
    return topics_recorded(orders)[get_topic(Order.Completed)]


def check_each_order_went_round_once(
    orders: Orders, reservations: Application, payments: Application, order_ids: list[UUID]
) -> None:
    """Every order reserved, paid and completed, each exactly once."""
    in_orders = topics_recorded(orders)
    count = len(order_ids)
    assert in_orders == {
        get_topic(Order.Placed): count,
        get_topic(Order.Reserved): count,
        get_topic(Order.Paid): count,
        get_topic(Order.Completed): count,
    }
    assert topics_recorded(reservations) == {get_topic(Reservation.Made): count}
    assert topics_recorded(payments) == {get_topic(Payment.Taken): count}
    for order_id in order_ids:
        order = orders.get_order(order_id)
        assert order.is_completed and order.version == 4
        reservation: Any = reservations.repository.get(order.reservation_id)
        payment: Any = payments.repository.get(order.payment_id)
        assert reservation.order_id == payment.order_id == order_id
