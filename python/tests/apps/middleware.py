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
