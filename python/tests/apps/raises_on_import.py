raise ValueError("boom at import")


def app(environ, start_response):
    return []
