"""The cargo shipping example on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from retell import AggregateNotFound
from tests.examples.cargoshipping import (
    BookingApplication,
    BookingService,
    Cargo,
    HandlingActivity,
    Itinerary,
    Leg,
    Location,
)

DEADLINE = datetime(2031, 5, 17, 12, 30, tzinfo=UTC)


def test_a_cargo_booked_rerouted_routed_handled_and_claimed(example_env: dict[str, str]) -> None:
    with BookingApplication(env=example_env) as app:
        service = BookingService(app)
        tracking_id = service.book_new_cargo("HONGKONG", "STOCKHOLM", DEADLINE)
        assert service.get_cargo_details(tracking_id) == {
            "id": tracking_id,
            "origin": "HONGKONG",
            "destination": "STOCKHOLM",
            "arrival_deadline": DEADLINE,
            "transport_status": "NOT_RECEIVED",
            "routing_status": "NOT_ROUTED",
            "is_misdirected": False,
            "estimated_time_of_arrival": None,
            "next_expected_activity": None,
            "last_known_location": None,
            "current_voyage_number": None,
        }

        # Two routes are on offer to Stockholm; then the destination changes.
        routes = service.request_possible_routes_for_cargo(tracking_id)
        assert [[leg["voyage_number"] for leg in r["legs"]] for r in routes] == [
            ["V1", "V2"],
            ["V3"],
        ]
        service.change_destination(tracking_id, "HELSINKI")
        assert service.get_cargo_details(tracking_id)["destination"] == "HELSINKI"

        [route] = service.request_possible_routes_for_cargo(tracking_id)
        assert route["legs"] == [
            {"origin": "HONGKONG", "destination": "ROTTERDAM", "voyage_number": "V4"},
            {"origin": "ROTTERDAM", "destination": "HELSINKI", "voyage_number": "V5"},
        ]
        service.assign_route(tracking_id, route)
        details = service.get_cargo_details(tracking_id)
        assert details["routing_status"] == "ROUTED"
        assert details["estimated_time_of_arrival"] == route["estimated_arrival"]
        assert details["estimated_time_of_arrival"] < DEADLINE
        assert details["next_expected_activity"] == ("RECEIVE", "HONGKONG", "")

        # Handled along the route: each event says what comes next.
        steps = [
            (None, "HONGKONG", "RECEIVE", "IN_PORT", ("LOAD", "HONGKONG", "V4"), None),
            ("V4", "HONGKONG", "LOAD", "ONBOARD_CARRIER", ("UNLOAD", "ROTTERDAM", "V4"), "V4"),
            ("V4", "ROTTERDAM", "UNLOAD", "IN_PORT", ("LOAD", "ROTTERDAM", "V5"), None),
            ("V5", "ROTTERDAM", "LOAD", "ONBOARD_CARRIER", ("UNLOAD", "HELSINKI", "V5"), "V5"),
            ("V5", "HELSINKI", "UNLOAD", "IN_PORT", ("CLAIM", "HELSINKI", ""), None),
            (None, "HELSINKI", "CLAIM", "CLAIMED", None, None),
        ]
        for voyage, location, activity, status, expected_next, on_voyage in steps:
            service.register_handling_event(tracking_id, voyage, location, activity)
            details = service.get_cargo_details(tracking_id)
            assert (
                details["transport_status"],
                details["next_expected_activity"],
                details["last_known_location"],
                details["current_voyage_number"],
                details["is_misdirected"],
            ) == (status, expected_next, location, on_voyage, False), (activity, location)

        # The domain's own types come back from the store.
        cargo = app.get_cargo(UUID(tracking_id))
        assert cargo.version == 9
        assert cargo.origin is Location.HONGKONG and cargo.destination is Location.HELSINKI
        assert isinstance(cargo.route, Itinerary)
        assert cargo.route.legs == (
            Leg(Location.HONGKONG, Location.ROTTERDAM, "V4"),
            Leg(Location.ROTTERDAM, Location.HELSINKI, "V5"),
        )
        assert cargo.arrival_deadline == DEADLINE
        events = list(app.events.get(UUID(tracking_id)))
        assert [type(e).__name__ for e in events] == [
            "BookedNewCargo",
            "DestinationChanged",
            "RouteAssigned",
            *["HandlingEventRegistered"] * 6,
        ]
        assert isinstance(events[0], Cargo.BookedNewCargo)
        assert events[1].destination is Location.HELSINKI
        assert events[2].route == cargo.route
        assert [e.handling_activity for e in events[3:]] == [
            HandlingActivity.RECEIVE,
            HandlingActivity.LOAD,
            HandlingActivity.UNLOAD,
            HandlingActivity.LOAD,
            HandlingActivity.UNLOAD,
            HandlingActivity.CLAIM,
        ]


def test_a_misdirected_and_a_misrouted_cargo(example_env: dict[str, str]) -> None:
    with BookingApplication(env=example_env) as app:
        tracking_id = app.book_new_cargo(Location.HONGKONG, Location.STOCKHOLM, DEADLINE)
        via_new_york, direct = app.request_possible_routes_for_cargo(tracking_id)
        app.assign_route(tracking_id, via_new_york)
        app.register_handling_event(tracking_id, None, Location.HONGKONG, HandlingActivity.RECEIVE)
        # Loaded on the direct voyage, which is not on its route.
        app.register_handling_event(tracking_id, "V3", Location.HONGKONG, HandlingActivity.LOAD)
        cargo = app.get_cargo(tracking_id)
        assert cargo.is_misdirected
        assert cargo.next_expected_activity is None
        assert cargo.current_voyage_number == "V3"

        # Routed again on the direct voyage; then sent elsewhere: misrouted.
        app.assign_route(tracking_id, direct)
        cargo = app.get_cargo(tracking_id)
        assert (cargo.routing_status, cargo.is_misdirected) == ("ROUTED", False)
        assert cargo.route == direct
        assert cargo.estimated_time_of_arrival == cargo.created_on + timedelta(days=25)
        app.change_destination(tracking_id, Location.TOKYO)
        assert app.get_cargo(tracking_id).routing_status == "MISROUTED"
        assert app.request_possible_routes_for_cargo(tracking_id) == []

        with pytest.raises(AggregateNotFound):
            app.get_cargo(Cargo(Location.TOKYO, Location.HAMBURG, DEADLINE).id)  # never saved
