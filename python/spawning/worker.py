"""The Python worker: ``python -m spawning.worker --channel-fd 3 --options-json JSON``.

Imports the app through the factory, reports READY (or LOAD_ERROR and exits
3), then reads request frames from the child and runs them on a pool of
threads, or on the reader itself while the app is fast (``threads >= 2``, see
pool.py), inline on the reader thread (``threads == 1``), or each in its own
greenlet (``threads == 0``, see green.py).
Its own log lines go to stderr; stdout belongs to the app.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # Green threads must be patched in before this module, the channel or the app import socket or threading.
    from .green import patch_for_argv

    patch_for_argv(sys.argv[1:])

import argparse
import os
import platform
import signal
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from . import __version__, exit_codes, tags
from .green import LIBRARIES, library_of
from .options import OptionsError, option, optional, parse_options

if TYPE_CHECKING:  # the real imports wait until msgpack is known to be installed
    from .channel import Channel
    from .pool import Pool
    from .wsgi import Request, WsgiApp

# How long in-flight requests get to run close() after the child has gone.
_EXIT_GRACE = 1.0


def _add_credit(req: Request, msg: list[Any]) -> None:
    req.credit += msg[2]


def _abort(req: Request, msg: list[Any]) -> None:
    req.aborted = True


# Frames that change a running request's state; each wakes whoever waits on it.
_REQUEST_UPDATES: dict[int, Callable[[Request, list[Any]], None]] = {
    tags.BODY: lambda req, msg: req.input.feed(msg[2]),
    tags.BODY_END: lambda req, msg: req.input.end(),
    tags.WINDOW_RESPONSE: _add_credit,
    tags.ABORT: _abort,
}


def _buffered(environ: dict[str, Any]) -> bool:
    """The app starts once this request's whole body is here: the child sends a body within the
    initial credit unasked, and a thread that started earlier would only wait for it (a cond wait and
    wake-up per request, and a slow upload would hold the thread). nginx buffers bodies likewise."""
    length = environ.get("CONTENT_LENGTH")
    return length is not None and length.isdigit() and int(length) <= tags.INITIAL_WINDOW


def hard_exit(code: int) -> NoReturn:
    """Exits now: daemon threads may be stuck inside the app, and a normal exit would wait on them."""
    coverage = sys.modules.get(f"{__package__}.coverage_support")
    if coverage is not None:  # --coverage: os._exit skips atexit, so save now
        coverage.save()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spawning.worker")
    parser.add_argument("--channel-fd", type=int, default=3)
    parser.add_argument("--options-json", required=True)
    return parser.parse_args(argv)


def _load_error_frame(kind: str, message: str) -> list[Any]:
    return [tags.LOAD_ERROR, {"kind": kind, "message": message, "where": "", "traceback": ""}]


def _options_error(channel: Channel, exc: ValueError) -> int:
    from .log import log

    log(f"invalid --options-json: {exc}")
    channel.send(_load_error_frame("config", f"invalid --options-json: {exc}"))
    return exit_codes.CONFIG_ERROR


class Worker:
    """Dispatches the child's frames to requests and runs them."""

    def __init__(self, channel: Channel, app: WsgiApp, options: dict[str, Any]) -> None:
        from .flow import Flow
        from .wsgi import FileWrapper, Request, Responder

        self.channel = channel
        self.threads = option(options, "threads", int)
        self.inline = self.threads == 1
        self.flow = Flow(channel, self.pump if self.inline else None)
        self.requests: dict[int, Request] = {}
        self._new_request = Request
        base = {
            "wsgi.version": (1, 0),
            # CGI's SERVER_SOFTWARE, which apps read (httpbin refuses chunked uploads without it).
            "SERVER_SOFTWARE": f"spawning/{__version__}",
            "wsgi.errors": sys.stderr,
            # Green mode (threads == 0) is not multithreaded in PEP 3333's sense: greenlets switch only at I/O.
            "wsgi.multithread": self.threads > 1,
            "wsgi.multiprocess": option(options, "processes", int) > 1,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        self.responder = Responder(app, channel, self.flow, base)
        self.pending: deque[Request] = deque()  # inline mode: requests not started yet
        # Requests whose body (within the initial credit) is still arriving; each starts at its BODY_END.
        self.awaiting_body: dict[int, Request] = {}
        self.shutting_down = False
        self.done = threading.Event()
        library = library_of(options)
        self.submit: Callable[[Request], None]
        # Green mode: ends an aborted request's wait at once (green.GreenRunner.interrupt).
        self.interrupt: Callable[[Request], None] | None = None
        self.pool: Pool | None = None
        if self.inline:
            self.submit = self.pending.append
        elif library is not None:
            from .green import GreenRunner, next_turn

            runner = GreenRunner(library, option(options, "max_green", int), self._run)
            self.submit = runner.submit
            self.interrupt = runner.interrupt
            channel.defer_flushes(next_turn(library))
        else:
            from .pool import Pool

            self.pool = Pool(self.threads, channel, self.requests, self.done, self.dispatch, self.abort_all, self._run)
            self.submit = self.pool.submit
            self.flow.before_wait = self.pool.before_wait

    # -- incoming frames (reader thread, or the inline app's pump) -------------

    def dispatch(self, frames: list[Any]) -> None:
        requests = self.requests
        cond = self.flow.cond
        for msg in frames:
            tag = msg[0]
            if tag == 1:  # REQUEST; the literal keeps the hottest branch cheap
                req = self._new_request(msg[1], msg[2], msg[3], self.responder)
                requests[req.id] = req
                if msg[3] and _buffered(msg[2]):
                    self.awaiting_body[req.id] = req
                else:
                    self.submit(req)
            elif tag in _REQUEST_UPDATES:
                found = requests.get(msg[1])
                if found is not None:  # frames for a request already answered are dropped
                    with cond:
                        _REQUEST_UPDATES[tag](found, msg)
                        cond.notify_all()
                    if tag == tags.BODY_END or tag == tags.ABORT:
                        held = self.awaiting_body.pop(found.id, None)
                        if held is not None:
                            self.submit(held)  # after an ABORT it answers END at once, the app never called
                            continue
                    if tag == tags.ABORT and self.interrupt is not None:
                        self.interrupt(found)
            elif tag == tags.FILE_OPENED:
                self.responder.file_opened(msg[1])
            elif tag == tags.SHUTDOWN:
                self.begin_shutdown()
            else:
                from .log import log

                log(f"ignoring a frame with unknown tag {tag!r}")

    def pump(self) -> bool:
        """Inline mode: reads and dispatches one batch while the app waits; False at EOF."""
        self.channel.flush()
        frames = self.channel.receive()
        if frames is None:
            self.abort_all()
            return False
        self.dispatch(frames)
        return True

    # -- running requests ------------------------------------------------------

    def _run(self, req: Request) -> None:
        try:
            terminal = self.responder.handle(req)
        except BaseException as exc:  # a bug of ours must not cost a pool thread or leave the id open
            from .log import log

            log(f"internal error while answering request {req.id}: {type(exc).__name__}: {exc}")
            terminal = [tags.FAIL, req.id, "internal error in the worker"]
        # Forget the id first: the child may reuse it as soon as it reads the terminal frame.
        self.requests.pop(req.id, None)
        self.channel.send(terminal)
        if self.shutting_down and not self.requests:
            self.done.set()

    def serve(self) -> None:
        """Reads frames until SHUTDOWN has been honoured or the channel ends."""
        channel = self.channel
        done = self.done
        if self.pool is not None:
            self.pool.serve()
            channel.flush()
            return
        while not done.is_set():
            if self.inline:
                channel.flush()
            frames = channel.receive()
            if frames is None:
                self.abort_all()
                return
            if not self.inline:
                self.dispatch(frames)
                continue
            # Frames produced while handling this batch leave in one write.
            channel.cork()
            try:
                self.dispatch(frames)
                pending = self.pending
                while pending:
                    self._run(pending.popleft())
            finally:
                channel.uncork()
        channel.flush()

    def begin_shutdown(self) -> None:
        self.shutting_down = True
        if not self.requests:
            self.done.set()

    def abort_all(self) -> None:
        """The child is gone: every request is aborted; nobody is left to answer."""
        with self.flow.cond:
            for req in list(self.requests.values()):
                req.aborted = True
            self.flow.cond.notify_all()

    def exit_when_done(self) -> None:
        """SIGTERM may arrive while the reader is blocked in recv(); this thread ends the process."""
        self.done.wait()
        self.channel.drain()
        hard_exit(exit_codes.OK)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # Ctrl-C and a terminal hangup reach the whole process group; the controller decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        import msgpack  # noqa: F401
    except ImportError:
        from .bare_frame import send_raw_load_error

        send_raw_load_error(
            args.channel_fd,
            {
                "kind": "python-packages",
                "message": f"interpreter {sys.executable} lacks the 'msgpack' package (pip install msgpack)",
                "where": "",
                "traceback": "",
            },
            tags.LOAD_ERROR,
        )
        return exit_codes.ENV_ERROR

    import socket

    from .channel import Channel
    from .factory import load_app
    from .loader import LoadError
    from .log import log

    channel = Channel(socket.socket(fileno=args.channel_fd))
    try:
        options = parse_options(args.options_json)
        threads = option(options, "threads", int)
        max_green = option(options, "max_green", int)
        library = library_of(options)
        coverage_dir = optional(options, "coverage_dir", str)
        positional = option(options, "args", list)
        factory = option(options, "factory", str)
        reload = optional(options, "reload", str)
    except ValueError as exc:
        return _options_error(channel, exc)
    if threads < 0:
        channel.send(_load_error_frame("config", f"--threads={threads} must be 0 (green threads) or more"))
        return exit_codes.CONFIG_ERROR
    if library is not None and library not in LIBRARIES:
        channel.send(_load_error_frame("config", f"--green={library} must be one of {', '.join(LIBRARIES)}"))
        return exit_codes.CONFIG_ERROR
    if library is not None and max_green < 1:
        channel.send(_load_error_frame("config", f"--max-green={max_green} must be 1 or more"))
        return exit_codes.CONFIG_ERROR

    if reload == "dev":
        from .module_files import record_imports

        record_imports()
    try:
        if coverage_dir:
            from . import coverage_support

            coverage_support.start(coverage_dir)
        app, config = load_app(options)
    except OptionsError as exc:
        return _options_error(channel, exc)
    except LoadError as exc:
        channel.send([tags.LOAD_ERROR, exc.as_dict()])
        return exit_codes.APP_LOAD_ERROR
    except BaseException as exc:  # an app_factory may raise anything
        import traceback

        channel.send([tags.LOAD_ERROR, LoadError("factory-error", f"loading the app raised {type(exc).__name__}: {exc}".splitlines()[0], "", traceback.format_exc()).as_dict()])
        return exit_codes.APP_LOAD_ERROR

    try:
        worker = Worker(channel, app, options)
    except OptionsError as exc:
        return _options_error(channel, exc)
    signal.signal(signal.SIGTERM, lambda *_: worker.begin_shutdown())
    threading.Thread(target=worker.exit_when_done, name="spawning-exit", daemon=True).start()
    description = config.get("app") or (positional[0] if positional else "") or factory
    channel.send(
        [
            tags.READY,
            {
                "pid": os.getpid(),
                "python": platform.python_version(),
                "threads": threads,
                "app": str(description),
                "factory": factory,
            },
        ]
    )
    if reload == "dev":
        from .module_files import report_modules

        report_modules(lambda files: channel.send([tags.MODULES, files]))
    worker.serve()
    deadline = time.monotonic() + _EXIT_GRACE
    while worker.requests and time.monotonic() < deadline:
        time.sleep(0.005)
    channel.drain()
    hard_exit(exit_codes.OK)


if __name__ == "__main__":
    sys.exit(main())
