"""Running one WSGI request (PEP 3333) and turning its response into frames.

A response whose body is a list or tuple goes out as one RESPONSE frame (with
a Content-Length added when the app gave none), and so does any iterable whose
first chunk is the whole declared Content-Length and which then ends (Flask's
and every werkzeug response). Anything else streams: START with the first
non-empty chunk, CHUNK per chunk, END; or START, FILE, END for a
``wsgi.file_wrapper`` over a regular file, which the child sends itself.

``wsgi.early_hints(headers)`` (as gunicorn 25 offers it) sends an EARLY_HINTS
frame at once, before the final response; the child writes a ``103 Early
Hints`` response from it. It does nothing for an HTTP/1.0 request or once the
final response has started.
"""

from __future__ import annotations

import os
import re
import stat
import traceback
from types import TracebackType
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple, Type

from . import tags
from .channel import Channel
from .flow import Flow
from .log import log
from .wsgi_input import ClientDisconnected, EmptyInput, WsgiInput

WsgiApp = Callable[..., Iterable[bytes]]
ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]

_START, _CHUNK, _END, _RESPONSE, _FILE, _FAIL = tags.START, tags.CHUNK, tags.END, tags.RESPONSE, tags.FILE, tags.FAIL
_EARLY_HINTS = tags.EARLY_HINTS
_ERROR_BODY = b"Internal Server Error\n"
_ENDED: Any = object()  # what next() returns for an exhausted app iterable
_ERROR_HEADERS = ("Content-Type", "text/plain; charset=utf-8", "Content-Length", str(len(_ERROR_BODY)))
# Statuses (and HEAD) whose responses carry no body, so no Content-Length is invented.
_NO_BODY_STATUS = ("1", "204", "304")
# What Node's http module accepts; anything else would make the child throw.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_STATUS = re.compile(r"[1-9][0-9]{2} [^\r\n]*")
# Statuses, header names and values found valid before: an app sends the same few again and again,
# and the regular expressions cost more than the rest of start_response (4 of its 5 µs for two
# headers). Bounded, since values such as Content-Length vary.
_SEEN_MAX = 1024
_statuses_seen: set[str] = set()
_names_seen: set[str] = set()
_values_seen: set[str] = set()


def _valid(text: str, pattern: re.Pattern[str], seen: set[str]) -> bool:
    """For ``text`` not in ``seen``: whether ``pattern`` matches all of it, remembered in ``seen`` when it does."""
    if pattern.fullmatch(text) is None:
        return False
    if len(seen) >= _SEEN_MAX:
        seen.clear()
    seen.add(text)
    return True


def _valid_header(name: str, value: str) -> bool:
    """Whether a response header (or early hint) is one the child can write."""
    return (name in _names_seen or _valid(name, _HEADER_NAME, _names_seen)) and (value in _values_seen or _valid(value, _HEADER_VALUE, _values_seen))


class FileWrapper:
    """``wsgi.file_wrapper``: the child sends regular files itself (see ``file_span``)."""

    def __init__(self, filelike: Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        blksize = self.blksize
        while True:
            block = read(blksize)
            if not block:
                return
            yield block

    def file_span(self) -> tuple[int, int, int] | None:
        """(descriptor, offset, size) when the filelike is a regular file the child can send itself."""
        try:
            fd = self.filelike.fileno()
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None
            return fd, self.filelike.tell(), info.st_size
        except (AttributeError, OSError, ValueError):
            return None


def _is_whole(data: bytes, length: str) -> bool:
    """Whether ``data`` is the whole body a Content-Length of ``length`` declares."""
    try:
        return len(data) == int(length)
    except ValueError:
        return False


class _Aborted(Exception):
    """The client went away while the app was producing its response."""


class Request:
    """One request in flight: its input, its response state and its credit."""

    __slots__ = ("id", "environ", "input", "credit", "aborted", "status", "headers", "length", "headers_sent", "_out")

    def __init__(self, request_id: int, environ: dict[str, Any], has_body: bool, out: Responder) -> None:
        self.id = request_id
        self.environ = environ
        self.input: WsgiInput | EmptyInput = WsgiInput(self, out.flow, True) if has_body else EmptyInput(self)
        self.credit = tags.INITIAL_WINDOW
        self.aborted = False
        self.status: str | None = None
        self.headers: list[str] | None = None
        # The app's Content-Length value, as given; None when it sent none.
        self.length: str | None = None
        self.headers_sent = False
        self._out = out

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        if type(status) is not str or not (status in _statuses_seen or _valid(status, _STATUS, _statuses_seen)):
            raise ValueError(f"invalid status {status!r}: expected a str like '200 OK'")
        if type(headers) is not list:
            raise TypeError(f"response headers must be a list of (name, value) tuples, not {type(headers).__name__}")
        flat: list[str] = []
        length = None
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                raise TypeError(f"each response header must be a (name, value) tuple, not {item!r}")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"response header name and value must be str: {item!r}")
            if not _valid_header(name, value):
                raise ValueError(f"invalid characters in response header {item!r}")
            if length is None and len(name) == 14 and name.lower() == "content-length":
                length = value
            flat.append(name)
            flat.append(value)
        self.headers = flat
        self.length = length
        self.status = status
        return self.write

    def early_hints(self, headers: Any) -> None:
        """``wsgi.early_hints``: a 103 with ``headers`` (a list of (name, value) tuples, or a mapping) goes out now."""
        if self.headers_sent or self.aborted or self.environ.get("SERVER_PROTOCOL") == "HTTP/1.0":
            return
        items = headers.items() if hasattr(headers, "items") else headers
        flat: list[str] = []
        for item in items:
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError(f"each early hint must be a (name, value) tuple, not {item!r}")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"early hint name and value must be str: {item!r}")
            if not _valid_header(name, value):
                raise ValueError(f"invalid characters in early hint {item!r}")
            flat.append(name)
            flat.append(value)
        if not flat:
            return
        channel = self._out.channel
        channel.send([_EARLY_HINTS, self.id, flat])
        # Not held back with the batch: the hint is worth something only while the app still works.
        channel.flush()

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if data:
            self._out.send_chunk(self, data)


class Responder:
    """Runs requests against the app and sends their responses on the channel."""

    def __init__(self, app: WsgiApp, channel: Channel, flow: Flow, base_environ: dict[str, Any]) -> None:
        self.app = app
        self.channel = channel
        self.flow = flow
        self.base_environ = base_environ
        # Duplicates of files sent by FILE, kept open until the child has opened its own (FILE_OPENED).
        self.held_files: set[int] = set()

    def file_opened(self, fd: int) -> None:
        """The child opened the file behind ``fd`` (or gave up on it): our duplicate may close."""
        if fd in self.held_files:
            self.held_files.discard(fd)
            os.close(fd)

    def send_chunk(self, req: Request, data: bytes) -> None:
        if req.credit <= 0 and not req.aborted:
            self.flow.wait_for(lambda: req.credit > 0 or req.aborted)
        if req.aborted:
            raise _Aborted()
        send = self.channel.send
        if not req.headers_sent:
            req.headers_sent = True
            send([_START, req.id, req.status, req.headers])
        req.credit -= len(data)
        send([_CHUNK, req.id, data])

    def handle(self, req: Request) -> list[Any]:
        """Runs the app for ``req`` and returns its terminal frame, unsent.

        The caller forgets the request id before sending it, so the child can
        reuse the id the moment it sees the frame. ``close()`` of the iterable
        has run by then.
        """
        if req.aborted:
            return [_END, req.id]
        environ = req.environ
        environ.update(self.base_environ)
        environ["wsgi.input"] = req.input
        environ["wsgi.early_hints"] = req.early_hints
        result: Any = None
        try:
            result = self.app(environ, req.start_response)
            kind = type(result)
            if (kind is list or kind is tuple) and not req.headers_sent:
                return self._respond_whole(req, result)
            if kind is FileWrapper and not req.headers_sent and self._respond_file(req, result):
                return [_END, req.id]
            return self._respond_stream(req, result)
        except (_Aborted, ClientDisconnected):
            return [_END, req.id]
        except BaseException as exc:  # the app may raise anything; every request gets a terminal frame
            if req.aborted:
                return [_END, req.id]
            return self._fail(req, exc)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException:
                    self._log_exception(req, "close() of the response iterable raised")

    def _respond_stream(self, req: Request, result: Iterable[bytes]) -> list[Any]:
        send_chunk = self.send_chunk
        chunks = iter(result)
        for data in chunks:
            if req.aborted:
                raise _Aborted()
            if data:
                if type(data) is not bytes:
                    raise TypeError(f"the app yielded {type(data).__name__}, not bytes")
                if not req.headers_sent and req.length is not None and _is_whole(data, req.length):
                    # One RESPONSE frame instead of START, CHUNK, END (and the child's WINDOW back),
                    # if the iterable ends here as its Content-Length says it will.
                    rest = next(chunks, _ENDED)
                    while rest is not _ENDED and not rest:
                        rest = next(chunks, _ENDED)
                    if rest is _ENDED:
                        if req.aborted:
                            raise _Aborted()
                        req.headers_sent = True
                        return [_RESPONSE, req.id, req.status, req.headers, data]
                    send_chunk(req, data)
                    data = rest
                    if type(data) is not bytes:
                        raise TypeError(f"the app yielded {type(data).__name__}, not bytes")
                send_chunk(req, data)
        if req.status is None:
            raise AssertionError("the app returned without calling start_response()")
        if not req.headers_sent:
            req.headers_sent = True
            self.channel.send([_START, req.id, req.status, req.headers])
        return [_END, req.id]

    def _respond_whole(self, req: Request, parts: list[bytes] | tuple[bytes, ...]) -> list[Any]:
        status = req.status
        if status is None:
            raise AssertionError("the app returned without calling start_response()")
        for part in parts:
            if type(part) is not bytes:
                raise TypeError(f"the app returned {type(part).__name__} in its body list, not bytes")
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        headers = req.headers
        assert headers is not None
        if req.length is None and not status.startswith(_NO_BODY_STATUS) and req.environ.get("REQUEST_METHOD") != "HEAD":
            headers.append("Content-Length")
            headers.append(str(len(body)))
        req.headers_sent = True
        return [_RESPONSE, req.id, status, headers, body]

    def _respond_file(self, req: Request, wrapper: FileWrapper) -> bool:
        """START and FILE (END follows): the bytes never cross the channel. False when the file cannot be sent so.

        The child opens ``/proc/<our pid>/fd/<n>`` of a duplicate we hold until it says FILE_OPENED:
        so it sends the very file the app opened, even one deleted or replaced since, and the app's
        close() of the wrapper (right after this) cannot close it under the child.
        """
        status = req.status
        if status is None:
            return False
        span = wrapper.file_span()
        if span is None:
            return False
        fd, offset, size = span
        headers = req.headers
        assert headers is not None
        bodiless = status.startswith(_NO_BODY_STATUS) or req.environ.get("REQUEST_METHOD") == "HEAD"
        if req.length is None:
            length = max(size - offset, 0)
            if not bodiless:
                headers.append("Content-Length")
                headers.append(str(length))
        else:
            try:
                length = int(req.length)
            except ValueError:
                length = -1
        send = self.channel.send
        req.headers_sent = True
        send([_START, req.id, status, headers])
        if bodiless or length == 0:
            return True
        held = os.dup(fd)
        self.held_files.add(held)
        send([_FILE, req.id, held, offset, length])
        return True

    def _log_exception(self, req: Request, what: str) -> None:
        method = req.environ.get("REQUEST_METHOD", "")
        path = req.environ.get("PATH_INFO", "")
        log(f"{what} ({method} {path}):\n{traceback.format_exc().rstrip()}")

    def _fail(self, req: Request, exc: BaseException) -> list[Any]:
        self._log_exception(req, "error in the WSGI application")
        if req.headers_sent:
            return [_FAIL, req.id, f"{type(exc).__name__}: {exc}".splitlines()[0]]
        req.headers_sent = True
        return [_RESPONSE, req.id, "500 Internal Server Error", list(_ERROR_HEADERS), _ERROR_BODY]
