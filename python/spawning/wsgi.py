"""Running one WSGI request (PEP 3333) and turning its response into frames."""

from __future__ import annotations

import os
import stat
import sys
import threading
import traceback
from typing import Any, Callable, Iterable

from . import tags
from .channel import Channel
from .wsgi_input import ClientDisconnected, WsgiInput

WsgiApp = Callable[..., Iterable[bytes]]

_ERROR_BODY = b"Internal Server Error\n"
_ERROR_HEADERS = ["Content-Type", "text/plain; charset=utf-8", "Content-Length", str(len(_ERROR_BODY))]
_NO_BODY_STATUS = ("1", "204", "304")


class Flow:
    """Where requests wait: for body bytes, for response credit.

    In pool mode a condition variable; in inline mode (one thread) waiting
    means pumping the channel reader until the condition holds.
    """

    def __init__(self, channel: Channel, pump: Callable[[], bool] | None) -> None:
        self.cond = threading.Condition()
        self._channel = channel
        self._pump = pump

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        if self._pump is not None:
            while not predicate():
                if not self._pump():
                    return
        else:
            with self.cond:
                self.cond.wait_for(predicate)

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def grant_body(self, request_id: int, n: int) -> None:
        self._channel.send([tags.WINDOW_BODY, request_id, n])


class FileWrapper:
    """``wsgi.file_wrapper``: the child sends regular files itself."""

    def __init__(self, filelike: Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterable[bytes]:
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block

    def file_span(self) -> tuple[str, int, int] | None:
        """(path, offset, size to EOF) when the child can send the file directly."""
        try:
            fd = self.filelike.fileno()
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            offset = self.filelike.tell()
            return os.readlink(f"/proc/self/fd/{fd}"), offset, max(0, st.st_size - offset)
        except (AttributeError, OSError, ValueError):
            return None


class Request:
    __slots__ = ("id", "environ", "input", "credit", "aborted", "status", "headers", "headers_sent")

    def __init__(self, request_id: int, environ: dict[str, Any], has_body: bool, flow: Flow) -> None:
        self.id = request_id
        self.environ = environ
        self.input = WsgiInput(self, flow, has_body)
        self.credit = tags.INITIAL_WINDOW
        self.aborted = False
        self.status: str | None = None
        self.headers: list[str] | None = None
        self.headers_sent = False


class _Aborted(Exception):
    """The client went away while the app was producing its response."""


def _flatten_headers(headers: Any) -> list[str]:
    if type(headers) is not list:
        raise TypeError(f"response headers must be a list, not {type(headers).__name__}")
    flat: list[str] = []
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise TypeError(f"each response header must be a (name, value) tuple, not {item!r}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"response header name and value must be str: {item!r}")
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise ValueError(f"invalid characters in response header {item!r}")
        flat.append(name)
        flat.append(value)
    return flat


def _has_header(flat: list[str], lower_name: str) -> bool:
    return any(flat[i].lower() == lower_name for i in range(0, len(flat), 2))


class Responder:
    """Runs requests against the app and sends their responses on the channel."""

    def __init__(self, app: WsgiApp, channel: Channel, flow: Flow, base_environ: dict[str, Any]) -> None:
        self.app = app
        self.channel = channel
        self.flow = flow
        self.base_environ = base_environ

    def _send_start(self, req: Request) -> None:
        req.headers_sent = True
        self.channel.send([tags.START, req.id, req.status, req.headers])

    def _send_chunk(self, req: Request, data: bytes) -> None:
        if req.credit <= 0 and not req.aborted:
            self.flow.wait_for(lambda: req.credit > 0 or req.aborted)
        if req.aborted:
            raise _Aborted()
        if not req.headers_sent:
            self._send_start(req)
        req.credit -= len(data)
        self.channel.send([tags.CHUNK, req.id, data])

    def handle(self, req: Request) -> None:
        channel = self.channel
        if req.aborted:
            channel.send([tags.END, req.id])
            return
        environ = req.environ
        environ.update(self.base_environ)
        environ["wsgi.input"] = req.input

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info:
                try:
                    if req.headers_sent:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif req.status is not None:
                raise AssertionError("start_response called a second time without exc_info")
            if type(status) is not str or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
                raise ValueError(f"invalid status {status!r}: expected a str like '200 OK'")
            req.headers = _flatten_headers(headers)
            req.status = status
            return write

        def write(data: bytes) -> None:
            if req.status is None:
                raise AssertionError("write() called before start_response()")
            if type(data) is not bytes:
                raise TypeError(f"write() takes bytes, not {type(data).__name__}")
            if data:
                self._send_chunk(req, data)

        result: Any = None
        try:
            result = self.app(environ, start_response)
            if not req.headers_sent and type(result) in (list, tuple):
                self._respond_whole(req, result)
            elif not req.headers_sent and isinstance(result, FileWrapper) and self._respond_file(req, result):
                pass
            else:
                for data in result:
                    if req.aborted:
                        raise _Aborted()
                    if data:
                        if type(data) is not bytes:
                            raise TypeError(f"the app yielded {type(data).__name__}, not bytes")
                        self._send_chunk(req, data)
                if req.status is None:
                    raise AssertionError("the app returned without calling start_response()")
                if not req.headers_sent:
                    self._send_start(req)
                channel.send([tags.END, req.id])
        except _Aborted:
            channel.send([tags.END, req.id])
        except ClientDisconnected:
            channel.send([tags.END, req.id])
        except BaseException as exc:  # the app may raise anything; the worker must answer
            self._fail(req, exc)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException:
                    self._log_exception(req, "close() of the response iterable raised")

    def _respond_whole(self, req: Request, parts: list[bytes] | tuple[bytes, ...]) -> None:
        for part in parts:
            if type(part) is not bytes:
                raise TypeError(f"the app returned {type(part).__name__} in its body list, not bytes")
        if req.status is None:
            raise AssertionError("the app returned without calling start_response()")
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        headers = req.headers
        assert headers is not None
        status = req.status
        if (
            not _has_header(headers, "content-length")
            and not status.startswith(_NO_BODY_STATUS)
            and req.environ.get("REQUEST_METHOD") != "HEAD"
        ):
            headers.append("Content-Length")
            headers.append(str(len(body)))
        req.headers_sent = True
        self.channel.send([tags.RESPONSE, req.id, status, headers, body])

    def _respond_file(self, req: Request, wrapper: FileWrapper) -> bool:
        span = wrapper.file_span()
        if span is None or req.status is None:
            return False
        path, offset, size = span
        headers = req.headers
        assert headers is not None
        length = size
        for i in range(0, len(headers), 2):
            if headers[i].lower() == "content-length":
                try:
                    length = min(size, int(headers[i + 1]))
                except ValueError:
                    pass
                break
        else:
            headers.append("Content-Length")
            headers.append(str(size))
        self._send_start(req)
        self.channel.send([tags.FILE, req.id, path, offset, length])
        self.channel.send([tags.END, req.id])
        return True

    def _log_exception(self, req: Request, what: str) -> None:
        method = req.environ.get("REQUEST_METHOD", "")
        path = req.environ.get("PATH_INFO", "")
        sys.stderr.write(f"[spawning worker {os.getpid()}] {what} ({method} {path}):\n{traceback.format_exc()}")

    def _fail(self, req: Request, exc: BaseException) -> None:
        self._log_exception(req, "error in the WSGI application")
        if req.headers_sent:
            self.channel.send([tags.FAIL, req.id, f"{type(exc).__name__}: {exc}"])
        else:
            req.headers_sent = True
            self.channel.send([tags.RESPONSE, req.id, "500 Internal Server Error", list(_ERROR_HEADERS), _ERROR_BODY])
