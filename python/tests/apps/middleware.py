def tag(label):
    def middleware(app):
        def wrapped(environ, start_response):
            body = b"".join(app(environ, start_response))
            return [label + b"(" + body + b")"]

        return wrapped

    return middleware


outer = tag(b"outer")
inner = tag(b"inner")
not_callable = 42


def thread_header(app):
    """Adds X-Thread: "name ident" of the thread that called start_response."""
    import threading

    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            thread = threading.current_thread()
            return start_response(status, [*headers, ("X-Thread", f"{thread.name} {thread.ident}")], exc_info)

        return app(environ, start)

    return wrapped
