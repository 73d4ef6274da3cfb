"""An exact pause of pynetdicom's association reactor, so that no DIMSE response is taken from us.

pynetdicom 3.0 runs a reactor thread per association that serves incoming requests. Before each
request it sends (``send_c_find``, ``send_c_move``, ``send_c_get``, ``send_c_store``), the sending
thread pauses that reactor: it clears ``Association._reactor_checkpoint`` and waits until
``Association._is_paused`` is true. The flag is set *before* the reactor waits at the checkpoint and
is still true for a moment after the wait has returned, so the sending thread can take a reactor on
its way out for a parked one. Requests sent back to back on one association hit it every time the
threads are scheduled badly: the last response of one request re-opens the checkpoint, the next
request closes it again before the reactor has run, sees the stale flag and sends; the reactor then
wakes, runs one turn, takes the first response of the new request off the DIMSE queue and drops it
("Received unexpected C-FIND service message", pydicom/pynetdicom#875). A C-FIND then silently
answers one match fewer (the first instance of a series, a whole series of a study) and a C-STORE
sub-operation waits out its DIMSE timeout.

:class:`ReactorCheckpoint` replaces the checkpoint: its ``clear`` returns only once the reactor is
parked at it (or gone, or is the caller), and its ``wait`` looks again after each wake-up, so a
checkpoint opened and closed again before the reactor ran keeps the reactor parked. It is installed
on every association we request through :func:`reactor_pause_handlers` (``EVT_CONN_OPEN``, before the
reactor's first turn). This is the one place, besides the log switch in
:mod:`resources.dicom_network.association`, that touches pynetdicom's private state; it is checked
by ``tests/retrieval/test_reactor_pause.py`` against the installed pynetdicom.
"""

from __future__ import annotations

import threading
from typing import Any

from pynetdicom import Association, evt

EventHandlers = list[Any]

_POLL_S = 0.05  # how often a waiting ``clear`` checks that the reactor thread is still alive


class ReactorCheckpoint(threading.Event):
    """The reactor's checkpoint with an exact handshake (a drop-in for the ``threading.Event``).

    Parameters
    ----------
    reactor
        The thread that waits at this checkpoint: the :class:`~pynetdicom.association.Association`
        itself, whose thread runs the reactor.
    """

    def __init__(self, reactor: threading.Thread) -> None:
        super().__init__()
        self._reactor = reactor
        self._state = threading.Condition()
        self._open = True
        self._parked = False  # the reactor is waiting at the closed checkpoint

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        """Open the checkpoint: the reactor runs again."""
        with self._state:
            self._open = True
            self._state.notify_all()

    def clear(self) -> None:
        """Close the checkpoint and return once the reactor is parked at it.

        Returns at once when called from the reactor thread itself (a handler it runs sends a
        request), and when the reactor thread has ended or someone opened the checkpoint again.
        """
        with self._state:
            self._open = False
            if threading.current_thread() is self._reactor:
                return
            while not self._parked and not self._open and self._reactor.is_alive():
                self._state.wait(_POLL_S)

    def wait(self, timeout: float | None = None) -> bool:
        """The reactor's side: park while the checkpoint is closed; returns whether it is open."""
        with self._state:
            if self._open:
                return True
            self._parked = True
            self._state.notify_all()
            try:
                return self._state.wait_for(lambda: self._open, timeout)
            finally:
                self._parked = False


def install_reactor_checkpoint(assoc: Association) -> None:
    """Give ``assoc`` a :class:`ReactorCheckpoint` (before its reactor runs, or while it is open)."""
    assoc._reactor_checkpoint = ReactorCheckpoint(assoc)


def _install_on_open(event: evt.Event) -> None:
    install_reactor_checkpoint(event.assoc)


def reactor_pause_handlers() -> EventHandlers:
    """Event handlers that install :class:`ReactorCheckpoint` on an association when it connects."""
    return [(evt.EVT_CONN_OPEN, _install_on_open)]
