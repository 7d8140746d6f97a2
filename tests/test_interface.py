"""A notification log served as JSON over a real HTTP server, and read and followed
through it, on every store."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from urllib.request import urlopen

import pytest

from retell import Application, NotificationLogReader
from retell.cipher import AESCipher
from retell.errors import RetellError, TranscodingError
from retell.interface import (
    NotificationLogInterface,
    NotificationLogJSONClient,
    NotificationLogJSONService,
)
from retell.persistence.records import Notification
from retell.topics import get_topic
from tests.dogschool import Dog, TrainingSchool
from tests.test_system import Counters, fido


def serve(service: NotificationLogJSONService[Any]) -> ThreadingHTTPServer:
    """An HTTP server on a free port of 127.0.0.1, serving `service` from its own threads:
    ``/sections/<id>``, ``/notifications?start=&limit=&topic=&inclusive_of_start=`` and
    ``/max``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            try:
                if url.path.startswith("/sections/"):
                    body = service.get_log_section(unquote(url.path.removeprefix("/sections/")))
                elif url.path == "/notifications":
                    start = query.get("start")
                    body = service.get_notifications(
                        int(start[0]) if start else None,
                        int(query["limit"][0]),
                        query.get("topic", []),
                        inclusive_of_start=query["inclusive_of_start"] == ["1"],
                    )
                elif url.path == "/max":
                    body = service.get_max_notification_id()
                else:
                    self.send_error(404)
                    return
            except RetellError as error:
                self.send_error(400, str(error))
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


class HTTPInterface(NotificationLogInterface):
    """What the `eventsourcing` library asks of an interface: sections and pages, by GET."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.requests: list[str] = []

    def get(self, path: str) -> str:
        self.requests.append(path)
        with urlopen(self.base_url + path, timeout=10) as response:
            return response.read().decode()

    def get_log_section(self, section_id: str) -> str:
        return self.get(f"/sections/{quote(section_id)}")

    def get_notifications(
        self,
        start: int | None,
        limit: int,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> str:
        params: dict[str, Any] = {"limit": limit, "inclusive_of_start": int(inclusive_of_start)}
        if start is not None:
            params["start"] = start
        params["topic"] = list(topics)
        return self.get(f"/notifications?{urlencode(params, doseq=True)}")


class HTTPInterfaceWithMax(HTTPInterface):
    """Also asks the service for the last position, in one request."""

    def get_max_notification_id(self) -> str:
        return self.get("/max")


@pytest.fixture
def http_server() -> Iterator[Any]:
    """Starts a server for a service; shut down at the end of the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(app: Application) -> str:
        server = serve(NotificationLogJSONService(app))
        servers.append(server)
        host, port = server.server_address[:2]
        return f"http://{host!s}:{port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def school_with_tricks(env: dict[str, str], tricks: int) -> TrainingSchool:
    school = TrainingSchool(env=env)
    dog = Dog("Fido")
    for i in range(tricks):
        dog.add_trick(f"trick {i}")
    school.save(dog)
    return school


def test_a_section_is_the_reference_libraries_json() -> None:
    school = school_with_tricks({"CIPHER_KEY": AESCipher.create_key(32)}, 2)
    service = NotificationLogJSONService(school)
    section = json.loads(service.get_log_section("1,2"))
    assert list(section) == ["id", "next_id", "items"]
    assert (section["id"], section["next_id"]) == ("1,2", "3,4")
    stored = school.notification_log["1,2"].items
    for item, notification in zip(section["items"], stored, strict=True):
        assert list(item) == ["id", "originator_id", "originator_version", "topic", "state"]
        assert item["id"] == notification.id
        assert item["originator_id"] == fido().hex
        assert item["originator_version"] == notification.originator_version
        assert item["topic"] == notification.topic
        assert base64.b64decode(item["state"], validate=True) == notification.state
    assert json.loads(service.get_log_section("7,9")) == {"id": None, "next_id": None, "items": []}
    page = json.loads(service.get_notifications(2, 5, inclusive_of_start=False))
    assert [item["id"] for item in page] == [3]
    page = json.loads(service.get_notifications(None, 5, [get_topic(Dog.TrickAdded)]))
    assert [item["id"] for item in page] == [2, 3]
    assert json.loads(service.get_max_notification_id()) == 3
    assert json.loads(NotificationLogJSONService(Application()).get_max_notification_id()) is None


def test_the_log_read_over_http_is_the_log(store_env: dict[str, str], http_server: Any) -> None:
    # Encrypted and compressed: the stored bytes are arbitrary, and must arrive intact.
    env = {
        **store_env,
        "CIPHER_KEY": AESCipher.create_key(32),
        "COMPRESSOR_TOPIC": "retell.compressor:ZlibCompressor",
    }
    with school_with_tricks(env, 24) as school:
        http = HTTPInterface(http_server(school))
        client = NotificationLogJSONClient(http)
        local = school.notification_log
        assert client["1,10"] == local["1,10"]
        assert client["21,30"] == local["21,30"]
        assert client["26,30"] == local["26,30"] == (None, [], None)
        assert client.select(3, 4) == local.select(3, 4)
        assert client.select(20, 10, stop=22) == local.select(20, 10, stop=22)
        after_five = local.select(5, 3, inclusive_of_start=False)
        assert client.select(5, 3, inclusive_of_start=False) == after_five
        reader = NotificationLogReader(client, section_size=7)
        notifications = list(reader.read(start=1))
        assert notifications == local.select(1, 100)
        assert [len(page) for page in reader.select(start=2, stop=20)] == [7, 7, 5]
        # A page that reaches `stop` is the last one asked for.
        http.requests.clear()
        assert [len(page) for page in reader.select(start=2, stop=15)] == [7, 7]
        assert len(http.requests) == 2
        tricks = [school.mapper.to_domain_event(n) for n in reader.read(start=24)]
        assert [t.trick for t in tricks] == ["trick 22", "trick 23"]  # type: ignore[attr-defined]
        with pytest.raises(HTTPError, match="400"):
            client["x"]


@pytest.mark.parametrize("interface", [HTTPInterface, HTTPInterfaceWithMax])
def test_a_follower_follows_a_log_read_over_http(
    store_env: dict[str, str], http_server: Any, interface: type[HTTPInterface]
) -> None:
    with school_with_tricks(store_env, 30) as school, Counters(env=store_env) as counters:
        http = interface(http_server(school))
        counters.follow("TrainingSchool", NotificationLogJSONClient(http), school.mapper)
        assert counters.pull_and_process("TrainingSchool") == 31
        assert counters.count(fido()) == 30
        # More tricks, some of a dog of its own; a pull processes only those.
        school.add_trick("Fido", "sit")
        school.register("Rex")
        school.add_trick("Rex", "roll")
        assert counters.pull_and_process("TrainingSchool") == 3
        assert counters.pull_and_process("TrainingSchool") == 0
        assert counters.count(fido()) == 31 and counters.count(Dog.create_id("Rex")) == 1
        assert counters.recorder.max_tracking_id("TrainingSchool") == 34
        # Checking that the leader's log was not reset: one request, or a few.
        if interface is HTTPInterfaceWithMax:
            assert "/max" in http.requests
        else:
            assert "/max" not in http.requests


def test_followers_racing_over_http_process_each_event_once(
    shared_store_env: dict[str, str], http_server: Any
) -> None:
    """Two follower processes (two instances on one store) pull while the leader writes."""
    with TrainingSchool(env=shared_store_env) as school:
        school.register("Fido")
        url = http_server(school)
        followers = [Counters(env=shared_store_env) for _ in range(2)]
        for follower in followers:
            follower.follow(
                "TrainingSchool", NotificationLogJSONClient(HTTPInterface(url)), school.mapper
            )
        writing = threading.Event()
        writing.set()
        errors: list[BaseException] = []
        processed = [0, 0]

        def pull(index: int) -> None:
            follower = followers[index]
            try:
                while writing.is_set():
                    processed[index] += follower.pull_and_process("TrainingSchool")
                processed[index] += follower.pull_and_process("TrainingSchool")
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=pull, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for i in range(40):
            school.add_trick("Fido", f"trick {i}")
        writing.clear()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        # Between them they recorded each of the 41 events once.
        assert sum(processed) == 41
        assert followers[0].count(fido()) == followers[1].count(fido()) == 40
        assert followers[0].recorder.max_tracking_id("TrainingSchool") == 41
        for follower in followers:
            follower.close()


class ListInterface(NotificationLogInterface):
    """Serves a fixed log (with gaps) from memory, as a service would."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.calls = 0

    def item(self, position: int) -> dict[str, Any]:
        state = base64.b64encode(bytes([position % 256, 0, 255])).decode()
        return {
            "id": position,
            "originator_id": fido().hex,
            "originator_version": position,
            "topic": "tests:Nothing",
            "state": state,
        }

    def get_log_section(self, section_id: str) -> str:
        raise NotImplementedError

    def get_notifications(
        self,
        start: int | None,
        limit: int,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> str:
        self.calls += 1
        first = start or 0
        found = [i for i in self.ids if i > first or (inclusive_of_start and i == first)]
        return json.dumps([self.item(i) for i in found[:limit]])


@pytest.mark.parametrize(
    "ids", [[], [1], [1, 2], [3, 4, 9], list(range(1, 1001)), [*range(1, 50), 70, 4097]]
)
def test_the_client_finds_the_last_position_without_asking_for_it(ids: list[int]) -> None:
    interface = ListInterface(ids)
    client = NotificationLogJSONClient(interface)
    assert client.max_notification_id() == (ids[-1] if ids else None)
    assert interface.calls <= 30
    assert client.select(2, 3, stop=3) == [n for n in client.select(2, 3) if n.id <= 3]


def test_a_reply_that_is_not_the_services_json_is_a_clear_error() -> None:
    class Broken(ListInterface):
        def get_log_section(self, section_id: str) -> str:
            return '{"id": "1,1", "next_id": null, "items": [{"id": "one"}]}'

        def get_max_notification_id(self) -> str:
            return "<html>Bad gateway</html>"

    client = NotificationLogJSONClient(Broken([]))
    with pytest.raises(TranscodingError, match="not a section in the JSON of"):
        client["1,1"]
    with pytest.raises(TranscodingError, match=r"not a position.*Bad gateway"):
        client.max_notification_id()
    item = {**ListInterface([]).item(1), "originator_id": "x"}
    not_an_id = json.dumps({"id": "1,1", "next_id": None, "items": [item]})
    Broken.get_log_section = lambda self, section_id: not_an_id  # type: ignore[method-assign]
    assert client["1,1"].items[0].originator_id == "x"  # a str id
    with pytest.raises(TranscodingError, match="originator_id that is not a UUID"):
        NotificationLogJSONClient(Broken([]), originator_id_type="uuid")["1,1"]


def test_notifications_keep_their_bytes() -> None:
    client = NotificationLogJSONClient(ListInterface([1, 300]))
    assert client.select(None, 10) == [
        Notification(fido(), 1, "tests:Nothing", bytes([1, 0, 255]), 1),
        Notification(fido(), 300, "tests:Nothing", bytes([44, 0, 255]), 300),
    ]
