"""Real-app bench scenario 2: a Django page rendered from a template with a database query.

GET /items/?start=N renders 20 rows of the items table (through Django's
database layer, on sqlite) into an HTML table with autoescaping, behind
Django's security and common middleware. One module, so every server in
scripts/bench serves the same code: the settings are configured here.
"""

import django
from django.conf import settings

from bench_db import PATH

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": PATH, "CONN_MAX_AGE": None}},
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
    MIDDLEWARE=["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.template import engines  # noqa: E402
from django.urls import path  # noqa: E402

PAGE = engines["django"].from_string(
    """<!doctype html>
<html><head><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1>
<table>
<tr><th>id</th><th>name</th><th>price</th></tr>
{% for item in items %}<tr class="{% cycle 'odd' 'even' %}"><td>{{ item.id }}</td><td>{{ item.name|title }}</td><td>{{ item.price|floatformat:2 }}</td></tr>
{% empty %}<tr><td colspan="3">none</td></tr>
{% endfor %}</table>
<p>{{ items|length }} item{{ items|length|pluralize }} from {{ start }}</p>
</body></html>
"""
)


def items(request: HttpRequest) -> HttpResponse:
    start = int(request.GET.get("start", "0"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, name, price FROM items WHERE id >= %s ORDER BY id LIMIT 20", [start])
        rows = [{"id": r[0], "name": r[1], "price": r[2]} for r in cursor.fetchall()]
    return HttpResponse(PAGE.render({"title": "Items <& more>", "items": rows, "start": start}, request))


urlpatterns = [path("items/", items)]
app = get_wsgi_application()
