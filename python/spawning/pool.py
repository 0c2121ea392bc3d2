"""Thread-pool mode (``--threads`` N >= 2): the reader runs fast requests itself, the pool the rest.

Handing every request from the reader to a pool thread cost a futex wake-up,
GIL hand-overs and one ``sendall`` per response: with Flask and sqlite,
``--threads 4`` served about 40% fewer requests than ``--threads 1``. So while
the app has been fast, the reader runs a batch of requests itself, as
``--threads 1`` does, and their responses leave in one write. It does so only
for a batch that finds nothing else in flight (the pool is idle) and whose
requests have their whole body already.

A request the reader runs may still turn out slow, or wait for a frame (body,
credit) that only a reader can deliver. Neither may stall the channel, so the
reader's role is a token that any of the N + 1 threads can hold (leader and
followers): when the reader's run passes ``_TAKEOVER``, or is about to wait for
a frame, the token goes to an idle thread, which reads from then on; the
batch's other requests go to the pool, and the old reader, once its request is
done, joins the pool. A slow run, or a batch that spent long off the CPU
(waiting on I/O the pool would have overlapped), sends the next requests to the
pool: 32 of them, doubling at each slow run up to 4,096 and halving at each
fast batch, so an app that waits on I/O rarely runs on the reader.

The watch over the reader's run is a SIGALRM timer (``setitimer``) armed for
each batch, whose handler runs in the otherwise idle main thread. A thread that
woke up every few milliseconds to look instead made the reader hand the GIL
over at every system call while it waited for it: about one futex call per
request, and 20% of the throughput.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
from threading import get_ident
from time import monotonic, thread_time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import queue
    from types import FrameType

    from .channel import Channel
    from .wsgi import Request

# A run on the reader longer than this was slow; so was a batch whose runs were off the CPU
# for longer than the second, on average (thread_time() is a system call: once per batch).
_INLINE_MAX = 0.001
_INLINE_MAX_WAIT = 0.0001
# How long the reader may run one request before another thread takes its role.
_TAKEOVER = 0.002
# Requests handed to the pool after a slow run on the reader, before trying again.
_BACKOFF_MIN = 32
_BACKOFF_MAX = 4096
# How often the main thread looks at the reader without being signalled: a timer
# the app reset is noticed this late at worst.
_BACKSTOP = 1.0
# When the watch finds the lock taken, it looks again this much later.
_RETRY = 0.0005


class _Read:
    """The reader's token on the pool queue."""


_READ: Any = _Read()


class Pool:
    """Runs requests on a pool of threads, or on the reader while the app is fast."""

    def __init__(
        self,
        threads: int,
        channel: Channel,
        requests: dict[int, Request],
        done: threading.Event,
        dispatch: Callable[[list[Any]], None],
        abort_all: Callable[[], None],
        run: Callable[[Request], None],
    ) -> None:
        """``dispatch`` hands each new request to ``submit``; ``run`` answers one and forgets it in ``requests``."""
        import queue

        self._channel = channel
        self._requests = requests
        self._done = done
        self._dispatch = dispatch
        self._abort_all = abort_all
        self._run = run
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Requests of the batch being dispatched.
        self._batch: list[Request] = []
        self.submit = self._batch.append
        # Requests of the batch the reader runs itself, not started yet.
        self._later: deque[Request] = deque()
        # Requests to hand to the pool before the reader runs one itself again.
        self._skip = 0
        self._backoff = _BACKOFF_MIN
        self._finished = threading.Event()
        self._failure: BaseException | None = None  # what broke the reader, raised again in the main thread
        self._lock = threading.Lock()  # guards the reader's role and its run
        self._reader = 0  # ident of the thread holding the token; 0 while it waits on the queue
        self._running = False  # the reader is running a request itself, since _started
        self._started = 0.0
        # N threads for the app, plus the one that reads.
        for i in range(threads + 1):
            threading.Thread(target=self._loop, name=f"spawning-{i}", daemon=True).start()

    def serve(self) -> None:
        """Reads frames until SHUTDOWN has been honoured or the channel ends."""
        # The main thread holds no token: any thread may be stuck in the app, and the end must not wait for it.
        signal.signal(signal.SIGALRM, self._alarm)
        self._queue.put(_READ)
        while not self._finished.wait(_BACKSTOP):
            self._watch()
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self._failure is not None:
            raise self._failure

    def _loop(self) -> None:
        get = self._queue.get
        run = self._run
        while True:
            item = get()
            if item is not _READ:
                run(item)
                continue
            try:
                reading = self._read()
            except BaseException as exc:  # a bug of ours: end as an exception in serve() would have
                self._failure = exc
                reading = False
            if not reading:
                self._finished.set()
                return

    # -- the reader ------------------------------------------------------------

    def _read(self) -> bool:
        """Reads and dispatches; False when serving ended, True once another thread took the token."""
        me = get_ident()
        with self._lock:
            self._reader = me
        # Named for stack dumps (py-spy, faulthandler), and so the tests can see who ran a request.
        thread = threading.current_thread()
        name, thread.name = thread.name, "spawning-reader"
        try:
            return self._read_as(me)
        finally:
            thread.name = name

    def _read_as(self, me: int) -> bool:
        channel = self._channel
        requests = self._requests
        batch = self._batch
        put = self._queue.put
        done = self._done
        while not done.is_set():
            frames = channel.receive()
            if frames is None:
                self._abort_all()
                return False
            self._dispatch(frames)
            if not batch:
                continue
            if self._skip <= 0 and len(requests) == len(batch) and all(req.input.complete for req in batch):
                self._later.extend(batch)
                batch.clear()
                if not self._run_later(me):
                    return True
            else:
                self._skip -= len(batch)
                for req in batch:
                    put(req)
                batch.clear()
        return False

    def _run_later(self, me: int) -> bool:
        """Runs the batch on this thread; False once the token passed to another thread meanwhile."""
        run = self._run
        channel = self._channel
        lock = self._lock
        later = self._later
        runs = len(later)
        channel.cork()
        signal.setitimer(signal.ITIMER_REAL, _TAKEOVER)
        cpu = thread_time()
        first = monotonic()
        while later:
            with lock:
                req = later.popleft()
                self._running = True
                started = self._started = monotonic()
            run(req)
            wall = monotonic() - started
            with lock:
                if self._reader != me:
                    return False  # the new reader's timer is armed: leave it
                self._running = False
            if wall >= _INLINE_MAX:
                self._slow()
                break
        else:
            off_cpu = monotonic() - first - (thread_time() - cpu)
            if off_cpu >= _INLINE_MAX_WAIT * runs:
                self._slow()
            elif self._backoff > _BACKOFF_MIN:
                # One slow run (a preempted thread, a garbage collection) soon stops counting.
                self._backoff //= 2
        signal.setitimer(signal.ITIMER_REAL, 0)
        channel.uncork()
        return True

    def _slow(self) -> None:
        """The reader's run was slow: the batch's other requests and the next few go to the pool."""
        self._skip = self._backoff
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
        put = self._queue.put
        later = self._later
        while later:
            put(later.popleft())

    def _pass_token(self) -> None:
        """Under the lock, while the reader runs a request: an idle thread reads from now on."""
        self._reader = 0
        self._running = False
        # Before the batch's other requests, so a thread that is idle now takes it.
        self._queue.put(_READ)
        self._slow()

    def before_wait(self) -> None:
        """A request is about to wait for a frame; when it runs on the reader, another thread must read meanwhile."""
        me = get_ident()
        if self._reader != me:
            return  # a pool thread, or a reader already relieved
        with self._lock:
            if self._reader != me or not self._running:
                return
            self._pass_token()
        self._channel.uncork()

    # -- the watch (main thread) -----------------------------------------------

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        self._watch()

    def _watch(self) -> None:
        """Passes the token on when the reader's run has taken too long; re-arms the timer otherwise."""
        # A handler runs between any two bytecodes of the main thread, also inside this very method
        # (the backstop's call, or a handler that waited for the GIL): never block on the lock here.
        if not self._lock.acquire(blocking=False):
            signal.setitimer(signal.ITIMER_REAL, _RETRY)
            return
        try:
            if not self._running:
                return
            left = self._started + _TAKEOVER - monotonic()
            if left > 0:
                signal.setitimer(signal.ITIMER_REAL, left)
                return
            self._pass_token()
        finally:
            self._lock.release()
        self._channel.uncork()
