"""The Python worker: ``python -m spawning.worker --channel-fd 3 --options-json JSON``.

Imports the app through the factory, reports READY (or LOAD_ERROR and exits
3), then reads request frames from the child and runs them on a thread pool
(``threads >= 2``) or inline on the reader thread (``threads == 1``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import threading
import time
from collections import deque
from typing import Any

from . import exit_codes, tags

_LOG_PREFIX = f"[spawning worker {os.getpid()}]"


def _log(message: str) -> None:
    sys.stderr.write(f"{_LOG_PREFIX} {message}\n")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spawning.worker")
    parser.add_argument("--channel-fd", type=int, default=3)
    parser.add_argument("--options-json", required=True)
    return parser.parse_args(argv)


def load_app(options: dict[str, Any]) -> Any:
    from .loader import LoadError, ensure_cwd_importable, import_object

    ensure_cwd_importable()
    factory_name = options.get("factory") or "spawning.wsgi_factory.config_factory"
    factory = import_object(factory_name)
    try:
        config = factory(dict(options))
    except LoadError:
        raise
    except BaseException as exc:
        import traceback

        raise LoadError("factory-error", f"factory '{factory_name}' raised {type(exc).__name__}: {exc}", "", traceback.format_exc()) from None
    if not isinstance(config, dict) or not isinstance(config.get("app_factory"), str):
        raise LoadError("factory-error", f"factory '{factory_name}' did not return a config dict naming an 'app_factory'")
    app_factory = import_object(config["app_factory"])
    app = app_factory(config)
    if not callable(app):
        raise LoadError("not-callable", f"app_factory '{config['app_factory']}' returned a {type(app).__name__}, not a WSGI callable")
    return app


class Worker:
    def __init__(self, channel: Any, app: Any, options: dict[str, Any]) -> None:
        from .wsgi import FileWrapper, Flow, Request, Responder

        self.channel = channel
        self.threads = int(options.get("threads", 1))
        self.inline = self.threads == 1
        self.flow = Flow(channel, self.pump if self.inline else None)
        self.requests: dict[int, Any] = {}
        self.Request = Request
        base = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.threads > 1,
            "wsgi.multiprocess": int(options.get("processes", 1)) > 1,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        self.responder = Responder(app, channel, self.flow, base)
        self.pending: deque[Any] = deque()  # inline mode: requests not started yet
        self.shutting_down = False
        self.done = threading.Event()
        if not self.inline:
            import queue

            self.queue: Any = queue.SimpleQueue()
            for i in range(self.threads):
                threading.Thread(target=self._pool_loop, name=f"spawning-{i}", daemon=True).start()

    # -- dispatch of incoming frames (reader thread) ---------------------------

    def dispatch(self, frames: list[Any]) -> None:
        requests = self.requests
        for msg in frames:
            tag = msg[0]
            if tag == tags.REQUEST:
                req = self.Request(msg[1], msg[2], msg[3], self.flow)
                requests[req.id] = req
                if self.inline:
                    self.pending.append(req)
                else:
                    self.queue.put(req)
            elif tag == tags.BODY:
                req = requests.get(msg[1])
                if req is not None:
                    with self.flow.cond:
                        req.input.feed(msg[2])
                        self.flow.cond.notify_all()
            elif tag == tags.WINDOW_RESPONSE:
                req = requests.get(msg[1])
                if req is not None:
                    with self.flow.cond:
                        req.credit += msg[2]
                        self.flow.cond.notify_all()
            elif tag == tags.BODY_END:
                req = requests.get(msg[1])
                if req is not None:
                    with self.flow.cond:
                        req.input.end()
                        self.flow.cond.notify_all()
            elif tag == tags.ABORT:
                req = requests.get(msg[1])
                if req is not None:
                    with self.flow.cond:
                        req.aborted = True
                        self.flow.cond.notify_all()
            elif tag == tags.SHUTDOWN:
                self.begin_shutdown()
            else:
                _log(f"ignoring unknown frame tag {tag!r}")

    def pump(self) -> bool:
        """Reads and dispatches one batch of frames; False at EOF."""
        self.channel.flush()
        frames = self.channel.receive()
        if frames is None:
            self._abort_all()
            return False
        self.dispatch(frames)
        return True

    # -- running requests ------------------------------------------------------

    def _run(self, req: Any) -> None:
        try:
            self.responder.handle(req)
        finally:
            self.requests.pop(req.id, None)
            if self.shutting_down and not self.requests:
                self.done.set()

    def _pool_loop(self) -> None:
        get = self.queue.get
        while True:
            req = get()
            if req is None:
                return
            self._run(req)

    def serve(self) -> None:
        channel = self.channel
        if self.inline:
            while not self.done.is_set():
                channel.flush()
                frames = channel.receive()
                if frames is None:
                    self._abort_all()
                    break
                channel.cork()
                try:
                    self.dispatch(frames)
                    while self.pending:
                        self._run(self.pending.popleft())
                finally:
                    channel.uncork()
        else:
            while not self.done.is_set():
                frames = channel.receive()
                if frames is None:
                    self._abort_all()
                    break
                self.dispatch(frames)

    def begin_shutdown(self) -> None:
        self.shutting_down = True
        if not self.requests and not self.pending:
            self.done.set()
        elif not self.inline:
            threading.Thread(target=self._exit_when_done, daemon=True).start()

    def _exit_when_done(self) -> None:
        self.done.wait()
        self.channel.flush()
        os._exit(exit_codes.OK)

    def _abort_all(self) -> None:
        """The child is gone: every request is aborted; nobody is left to answer."""
        with self.flow.cond:
            for req in self.requests.values():
                req.aborted = True
            self.flow.cond.notify_all()


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
    from .loader import LoadError

    channel = Channel(socket.socket(fileno=args.channel_fd))
    try:
        options = json.loads(args.options_json)
    except ValueError as exc:
        _log(f"invalid --options-json: {exc}")
        return exit_codes.CONFIG_ERROR
    threads = int(options.get("threads", 1))
    if threads < 1:
        channel.send([tags.LOAD_ERROR, {"kind": "config", "message": "--threads=0 (green threads) is not available yet", "where": "", "traceback": ""}])
        return exit_codes.CONFIG_ERROR
    try:
        app = load_app(options)
    except LoadError as exc:
        channel.send([tags.LOAD_ERROR, exc.as_dict()])
        return exit_codes.APP_LOAD_ERROR

    worker = Worker(channel, app, options)
    signal.signal(signal.SIGTERM, lambda *_: worker.begin_shutdown())
    args_list = options.get("args") or []
    channel.send(
        [
            tags.READY,
            {
                "pid": os.getpid(),
                "python": platform.python_version(),
                "threads": threads,
                "app": args_list[0] if args_list else "",
                "factory": options.get("factory", ""),
            },
        ]
    )
    if options.get("reload") == "dev":
        from .module_files import report_modules

        report_modules(lambda files: channel.send([tags.MODULES, files]))
    worker.serve()
    # Give in-flight requests (already aborted if the child vanished) a moment to run close().
    deadline = time.monotonic() + 2.0
    while worker.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    channel.flush()
    os._exit(exit_codes.OK)


if __name__ == "__main__":
    sys.exit(main())
