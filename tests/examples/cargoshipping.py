"""Cargo shipping, after the `eventsourcing` library's example of the DDD booking app.

A cargo is booked from an origin to a destination with an arrival deadline. It is
routed on an itinerary of legs (voyages between two locations), then handled along
the way (received, loaded, unloaded, claimed), and each handling event tells where
it is, what should happen to it next, and whether it went astray.

The domain uses enums and custom value objects. `Leg` is a dataclass, which retell
stores as it is; `Itinerary` is a plain class, stored through a `Transcoding`, and
`Location` keeps the `Transcoding` a project written for the library would already
have (retell uses it instead of its own coding of enums). An application service
(`BookingService`) speaks in strings and dicts, and calls the application, which
speaks in the domain's types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from retell import Aggregate, Application, event
from retell.persistence import JSONTranscoder, Transcoding

# --- domain ------------------------------------------------------------------------------


class Location(Enum):
    HAMBURG = "Hamburg"
    HELSINKI = "Helsinki"
    HONGKONG = "Hong Kong"
    NEWYORK = "New York"
    ROTTERDAM = "Rotterdam"
    STOCKHOLM = "Stockholm"
    TOKYO = "Tokyo"


class HandlingActivity(Enum):
    RECEIVE = "RECEIVE"
    LOAD = "LOAD"
    UNLOAD = "UNLOAD"
    CLAIM = "CLAIM"


@dataclass(frozen=True)
class Leg:
    """One voyage of a route, from one location to the next."""

    origin: Location
    destination: Location
    voyage_number: str


class Itinerary:
    """A route: the legs from an origin to a destination, and when it arrives."""

    def __init__(
        self,
        origin: Location,
        destination: Location,
        legs: tuple[Leg, ...],
        estimated_arrival: datetime,
    ) -> None:
        self.origin = origin
        self.destination = destination
        self.legs = tuple(legs)
        self.estimated_arrival = estimated_arrival

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Itinerary) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((self.origin, self.destination, self.legs))

    def __repr__(self) -> str:
        return f"Itinerary({self.origin.name}->{self.destination.name}, {list(self.legs)})"


NextActivity = tuple[HandlingActivity, Location, str | None] | None


class Cargo(Aggregate):
    """A cargo, identified by its tracking id (the aggregate's id)."""

    class BookedNewCargo(Aggregate.Created):
        origin: Location
        destination: Location
        arrival_deadline: datetime

    @event(BookedNewCargo)
    def __init__(self, origin: Location, destination: Location, arrival_deadline: datetime) -> None:
        self.origin = origin
        self.destination = destination
        self.arrival_deadline = arrival_deadline
        self.transport_status = "NOT_RECEIVED"
        self.routing_status = "NOT_ROUTED"
        self.is_misdirected = False
        self.estimated_time_of_arrival: datetime | None = None
        self.next_expected_activity: NextActivity = None
        self.route: Itinerary | None = None
        self.last_known_location: Location | None = None
        self.current_voyage_number: str | None = None

    @event("DestinationChanged")
    def change_destination(self, destination: Location) -> None:
        self.destination = destination
        if self.route is not None and self.route.destination != destination:
            self.routing_status = "MISROUTED"

    @event("RouteAssigned")
    def assign_route(self, route: Itinerary) -> None:
        self.route = route
        self.routing_status = "ROUTED" if route.destination == self.destination else "MISROUTED"
        self.estimated_time_of_arrival = route.estimated_arrival
        self.next_expected_activity = (HandlingActivity.RECEIVE, route.origin, None)
        self.is_misdirected = False

    @event("HandlingEventRegistered")
    def register_handling_event(
        self,
        voyage_number: str | None,
        location: Location,
        handling_activity: HandlingActivity,
    ) -> None:
        legs = self.route.legs if self.route is not None else ()
        if handling_activity is HandlingActivity.RECEIVE:
            self.transport_status = "IN_PORT"
            self.last_known_location = location
            self._expect_loading_at(location, legs)
        elif handling_activity is HandlingActivity.LOAD:
            self.transport_status = "ONBOARD_CARRIER"
            self.current_voyage_number = voyage_number
            self.last_known_location = location
            for leg in legs:
                if leg.origin == location and leg.voyage_number == voyage_number:
                    self.next_expected_activity = (
                        HandlingActivity.UNLOAD,
                        leg.destination,
                        voyage_number,
                    )
                    break
            else:
                self.is_misdirected = True
                self.next_expected_activity = None
        elif handling_activity is HandlingActivity.UNLOAD:
            self.transport_status = "IN_PORT"
            self.current_voyage_number = None
            self.last_known_location = location
            if location == self.destination:
                self.next_expected_activity = (HandlingActivity.CLAIM, location, None)
            else:
                self._expect_loading_at(location, legs)
        else:  # CLAIM
            self.transport_status = "CLAIMED"
            self.last_known_location = location
            self.next_expected_activity = None

    def _expect_loading_at(self, location: Location, legs: tuple[Leg, ...]) -> None:
        for leg in legs:
            if leg.origin == location:
                self.next_expected_activity = (HandlingActivity.LOAD, location, leg.voyage_number)
                return
        self.is_misdirected = True
        self.next_expected_activity = None


# --- routing: a stand-in for a routing service ------------------------------------------


def _legs(*hops: tuple[Location, Location, str]) -> tuple[Leg, ...]:
    return tuple(Leg(*hop) for hop in hops)


def possible_routes(
    origin: Location, destination: Location, departure: datetime
) -> list[Itinerary]:
    """The itineraries on offer between two locations (two at most, here)."""
    offers: dict[tuple[Location, Location], list[tuple[tuple[Leg, ...], int]]] = {
        (Location.HONGKONG, Location.STOCKHOLM): [
            (
                _legs(
                    (Location.HONGKONG, Location.NEWYORK, "V1"),
                    (Location.NEWYORK, Location.STOCKHOLM, "V2"),
                ),
                20,
            ),
            (_legs((Location.HONGKONG, Location.STOCKHOLM, "V3")), 25),
        ],
        (Location.HONGKONG, Location.HELSINKI): [
            (
                _legs(
                    (Location.HONGKONG, Location.ROTTERDAM, "V4"),
                    (Location.ROTTERDAM, Location.HELSINKI, "V5"),
                ),
                18,
            ),
        ],
        (Location.TOKYO, Location.HAMBURG): [
            (_legs((Location.TOKYO, Location.HAMBURG, "V6")), 30),
        ],
    }
    return [
        Itinerary(origin, destination, legs, departure + timedelta(days=days))
        for legs, days in offers.get((origin, destination), [])
    ]


# --- application -------------------------------------------------------------------------


class LocationAsName(Transcoding):
    type = Location
    name = "location"

    def encode(self, obj: Location) -> str:
        return obj.name

    def decode(self, data: str) -> Location:
        return Location[data]


class ItineraryAsDict(Transcoding):
    type = Itinerary
    name = "itinerary"

    def encode(self, obj: Itinerary) -> dict[str, Any]:
        # What this returns is encoded in turn: the locations, legs and datetime too.
        return {
            "origin": obj.origin,
            "destination": obj.destination,
            "legs": list(obj.legs),
            "arrives": obj.estimated_arrival,
        }

    def decode(self, data: dict[str, Any]) -> Itinerary:
        return Itinerary(data["origin"], data["destination"], tuple(data["legs"]), data["arrives"])


class BookingApplication(Application):
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(LocationAsName())
        transcoder.register(ItineraryAsDict())

    def book_new_cargo(
        self, origin: Location, destination: Location, arrival_deadline: datetime
    ) -> UUID:
        cargo = Cargo(origin, destination, arrival_deadline)
        self.save(cargo)
        return cargo.id

    def get_cargo(self, tracking_id: UUID) -> Cargo:
        cargo: Cargo = self.repository.get(tracking_id)
        return cargo

    def change_destination(self, tracking_id: UUID, destination: Location) -> None:
        cargo = self.get_cargo(tracking_id)
        cargo.change_destination(destination)
        self.save(cargo)

    def request_possible_routes_for_cargo(self, tracking_id: UUID) -> list[Itinerary]:
        cargo = self.get_cargo(tracking_id)
        return possible_routes(cargo.origin, cargo.destination, cargo.created_on)

    def assign_route(self, tracking_id: UUID, itinerary: Itinerary) -> None:
        cargo = self.get_cargo(tracking_id)
        cargo.assign_route(itinerary)
        self.save(cargo)

    def register_handling_event(
        self,
        tracking_id: UUID,
        voyage_number: str | None,
        location: Location,
        handling_activity: HandlingActivity,
    ) -> None:
        cargo = self.get_cargo(tracking_id)
        cargo.register_handling_event(voyage_number, location, handling_activity)
        self.save(cargo)


# --- interface ---------------------------------------------------------------------------


class BookingService:
    """The booking application's service, for a client that knows strings and dicts."""

    def __init__(self, app: BookingApplication) -> None:
        self.app = app

    def book_new_cargo(self, origin: str, destination: str, arrival_deadline: datetime) -> str:
        tracking_id = self.app.book_new_cargo(
            Location[origin], Location[destination], arrival_deadline
        )
        return str(tracking_id)

    def get_cargo_details(self, tracking_id: str) -> dict[str, Any]:
        cargo = self.app.get_cargo(UUID(tracking_id))
        next_activity = None
        if cargo.next_expected_activity is not None:
            activity, location, voyage = cargo.next_expected_activity
            next_activity = (activity.value, location.name, voyage or "")
        return {
            "id": str(cargo.id),
            "origin": cargo.origin.name,
            "destination": cargo.destination.name,
            "arrival_deadline": cargo.arrival_deadline,
            "transport_status": cargo.transport_status,
            "routing_status": cargo.routing_status,
            "is_misdirected": cargo.is_misdirected,
            "estimated_time_of_arrival": cargo.estimated_time_of_arrival,
            "next_expected_activity": next_activity,
            "last_known_location": cargo.last_known_location and cargo.last_known_location.name,
            "current_voyage_number": cargo.current_voyage_number,
        }

    def change_destination(self, tracking_id: str, destination: str) -> None:
        self.app.change_destination(UUID(tracking_id), Location[destination])

    def request_possible_routes_for_cargo(self, tracking_id: str) -> list[dict[str, Any]]:
        routes = self.app.request_possible_routes_for_cargo(UUID(tracking_id))
        return [self._route_details(route) for route in routes]

    def assign_route(self, tracking_id: str, route_details: dict[str, Any]) -> None:
        itinerary = Itinerary(
            Location[route_details["origin"]],
            Location[route_details["destination"]],
            tuple(
                Leg(Location[leg["origin"]], Location[leg["destination"]], leg["voyage_number"])
                for leg in route_details["legs"]
            ),
            route_details["estimated_arrival"],
        )
        self.app.assign_route(UUID(tracking_id), itinerary)

    def register_handling_event(
        self, tracking_id: str, voyage_number: str | None, location: str, handling_activity: str
    ) -> None:
        self.app.register_handling_event(
            UUID(tracking_id),
            voyage_number,
            Location[location],
            HandlingActivity[handling_activity],
        )

    @staticmethod
    def _route_details(route: Itinerary) -> dict[str, Any]:
        return {
            "origin": route.origin.name,
            "destination": route.destination.name,
            "legs": [
                {
                    "origin": leg.origin.name,
                    "destination": leg.destination.name,
                    "voyage_number": leg.voyage_number,
                }
                for leg in route.legs
            ],
            "estimated_arrival": route.estimated_arrival,
        }
