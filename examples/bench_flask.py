"""Real-app bench scenario 1: a Flask JSON endpoint reading one row from sqlite.

GET /item/<id> answers {"id", "name", "price"} for that row; the same module
is served by every server in scripts/bench.
"""

from flask import Flask, abort, jsonify

from bench_db import connection

app = Flask(__name__)


@app.get("/item/<int:item_id>")
def item(item_id: int):
    row = connection().execute("SELECT id, name, price FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        abort(404)
    return jsonify(id=row[0], name=row[1], price=row[2])
