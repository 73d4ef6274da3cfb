"""The exact reactor pause (resources.pacs.reactor_pause): no C-FIND response is lost to the reactor.

The flake it fixes (a metadata pick of instance 2, one image-level query fewer) needs the reactor
thread and the requesting thread scheduled badly; :class:`ReactorFirstQueue` schedules them so every
time, which makes back-to-back C-FINDs on one pynetdicom association lose responses on pynetdicom's
own checkpoint.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import association as pynetdicom_association

from resources.dicom_network.association import NetworkOptions, PeerAddress
from resources.pacs.demo_pacs import DemoPacs
from resources.pacs.query import PacsQuerier
from resources.pacs.reactor_pause import ReactorCheckpoint
from tests.dicom_builder import BuiltStudy, write_study

IMAGES = 5
QUERIES = 8


class ReactorFirstQueue(queue.Queue[Any]):
    """A DIMSE message queue with the worst scheduling: the reactor always gets there first.

    The reactor's non-blocking look waits up to 0.1 s for a message (a reactor descheduled between its
    checkpoint and the queue); the requesting thread's blocking read leaves a message that has just
    arrived for 20 ms first (a requester descheduled before it collects its response).
    """

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self.not_empty:
            self.not_empty.wait_for(lambda: self._qsize() > 0, timeout if block else 0.1)
        if block:
            time.sleep(0.02)
        return super().get(block, timeout)


@pytest.fixture
def reactor_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every requested pynetdicom association in this test gets a :class:`ReactorFirstQueue`."""
    original = pynetdicom_association.Association.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.is_requestor:
            self.dimse.msg_queue = ReactorFirstQueue()

    monkeypatch.setattr(pynetdicom_association.Association, "__init__", init)


@dataclass
class OneSeries:
    study: BuiltStudy
    peer: PeerAddress
    options: NetworkOptions = field(
        default_factory=lambda: NetworkOptions(
            acse_timeout_s=5, dimse_timeout_s=5, network_timeout_s=5, scu_engine="pynetdicom"
        )
    )


@pytest.fixture
def one_series(tmp_path: Path) -> Iterator[OneSeries]:
    folder = tmp_path / "archive"
    study = write_study(folder, key=16, image_series=1, images_per_series=IMAGES, with_rdsr=False)
    with DemoPacs(folder, "DEMO_PACS") as pacs:
        yield OneSeries(study, PeerAddress("127.0.0.1", pacs.port, "DEMO_PACS", "DICOM_LAKE"))


@pytest.mark.usefixtures("reactor_first")
def test_back_to_back_c_finds_on_one_association_lose_no_response(one_series: OneSeries) -> None:
    study = one_series.study
    (series_uid,) = study.series
    answered: list[list[str]] = []
    with PacsQuerier(one_series.peer, one_series.options) as querier:
        for _ in range(QUERIES):
            rows = querier.find_instances(study.study_uid, series_uid)
            answered.append(sorted(r.sop_instance_uid for r in rows))
        checkpoint = querier._assoc._reactor_checkpoint  # type: ignore[union-attr]
    assert answered == [sorted(study.series[series_uid])] * QUERIES
    assert isinstance(checkpoint, ReactorCheckpoint)


@dataclass
class FakeReactor:
    """A thread looping like pynetdicom's reactor: flag paused, wait at the checkpoint, take a turn."""

    checkpoint: ReactorCheckpoint = field(init=False)
    turns: int = 0
    is_paused: bool = False
    stop: bool = False
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.checkpoint = ReactorCheckpoint(self.thread)

    def _run(self) -> None:
        while not self.stop:
            self.is_paused = True
            self.checkpoint.wait()
            self.is_paused = False
            self.turns += 1
            time.sleep(0.001)


@pytest.fixture
def reactor() -> Iterator[FakeReactor]:
    fake = FakeReactor()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.stop = True
        fake.checkpoint.set()
        fake.thread.join(timeout=5)


def test_clear_returns_once_the_reactor_is_parked(reactor: FakeReactor) -> None:
    reactor.checkpoint.clear()
    turns = reactor.turns
    assert reactor.is_paused and reactor.checkpoint._parked
    assert reactor.turns == turns
    reactor.checkpoint.set()


def test_a_checkpoint_opened_and_closed_before_the_reactor_ran_keeps_it_parked(reactor: FakeReactor) -> None:
    """The back-to-back case: the last response re-opens it, the next request closes it at once."""
    reactor.checkpoint.clear()
    turns = reactor.turns
    for _ in range(200):
        reactor.checkpoint.set()
        reactor.checkpoint.clear()
        assert reactor.checkpoint._parked
        assert reactor.turns == turns  # a reactor that had passed would have taken a turn here
    reactor.checkpoint.set()


def test_clear_does_not_wait_for_a_reactor_that_ended_or_for_itself() -> None:
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    ReactorCheckpoint(ended).clear()  # returns: nobody will ever park
    cleared_by_itself: list[bool] = []

    def reactor_pausing_itself() -> None:
        checkpoint.clear()
        cleared_by_itself.append(not checkpoint.is_set())

    worker = threading.Thread(target=reactor_pausing_itself)
    checkpoint = ReactorCheckpoint(worker)
    worker.start()
    worker.join(timeout=5)
    assert cleared_by_itself == [True]
