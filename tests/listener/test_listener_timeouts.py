"""The listener's ACSE and network timeouts are settings, applied by both engines."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from resources.site_config import SiteConfigError, load_site_config
from tests.listener_site import LAKE_AE, PACS_AE, start_listener_in_process, write_site

ENGINES = ["native", "pynetdicom"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_short_network_timeout_aborts_a_silent_association(tmp_path: Path, engine: str) -> None:
    config = load_site_config(
        write_site(tmp_path / "site", listener={"engine": engine, "network_timeout_s": 0.5})
    )
    assert config.listener.network_timeout_s == 0.5
    running = start_listener_in_process(config)
    try:
        ae = AE(ae_title=PACS_AE)
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", running.port, ae_title=LAKE_AE)
        assert assoc.is_established
        began = time.monotonic()
        while assoc.is_established and time.monotonic() - began < 10:
            time.sleep(0.05)  # say nothing: the listener must give up on us
        assert assoc.is_aborted
        assert time.monotonic() - began < 5  # the 0.5 s setting, not the 120 s default
    finally:
        running.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_short_acse_timeout_closes_a_connection_that_never_associates(tmp_path: Path, engine: str) -> None:
    config = load_site_config(
        write_site(tmp_path / "site", listener={"engine": engine, "acse_timeout_s": 0.5})
    )
    running = start_listener_in_process(config)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as silent:
            began = time.monotonic()
            try:
                closed = silent.recv(1024) == b""  # no A-ASSOCIATE-RQ sent: the listener hangs up
            except ConnectionResetError:
                closed = True
            assert closed
            assert time.monotonic() - began < 5
    finally:
        running.close()


def test_listener_timeouts_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"listener\.dimse_timeout_s"):
        load_site_config(write_site(tmp_path / "site", listener={"dimse_timeout_s": 0}))
