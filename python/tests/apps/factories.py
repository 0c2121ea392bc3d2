"""Factories for the factory contract tests."""


def raising_factory(options):
    raise RuntimeError("factory exploded")


def no_app_factory(options):
    return {"app": "basic.hello"}


def custom_factory(options):
    return {"app_factory": "factories.custom_app_factory", "greeting": options["args"][0]}


def custom_app_factory(config):
    greeting = config["greeting"].encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [greeting]

    return app
