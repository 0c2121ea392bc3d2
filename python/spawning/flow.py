"""Waiting for the child: for request body bytes and for response credit.

Its own module because both ``wsgi`` (response credit) and ``wsgi_input``
(body bytes) wait here, and neither may import the other.
"""

from __future__ import annotations

import threading
from typing import Callable

from . import tags
from .channel import Channel


class Flow:
    """Where requests wait: for body bytes, for response credit.

    With a pool, waiting is a condition variable the reader thread notifies.
    Inline (one thread), waiting means pumping the channel reader until the
    condition holds; frames for other requests are queued by the dispatcher.
    """

    def __init__(self, channel: Channel, pump: Callable[[], bool] | None) -> None:
        self.cond = threading.Condition()
        self._channel = channel
        self._pump = pump
        # With a pool: called before a wait, so a request running on the reader thread gives up reading first.
        self.before_wait: Callable[[], None] | None = None

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        if self._pump is not None:
            while not predicate():
                if not self._pump():
                    return
            return
        if self.before_wait is not None:
            with self.cond:
                if predicate():
                    return
            self.before_wait()
        with self.cond:
            self.cond.wait_for(predicate)

    def grant_body(self, request_id: int, n: int) -> None:
        self._channel.send([tags.WINDOW_BODY, request_id, n])
