"""A real Flask app wrapped by OtasWSGIMiddleware."""

from flask import Flask, Response, jsonify, request

from otas.wsgi import OtasWSGIMiddleware

app = Flask(__name__)


@app.get("/api/items/<int:pk>")
def item(pk):
    return jsonify({"id": pk, "name": f"item {pk}"})


@app.post("/api/items")
def create():
    data = request.get_json()
    return jsonify({"created": True, "echo": data}), 201


@app.get("/api/boom")
def boom():
    raise ValueError("flask view failed")


@app.get("/api/stream")
def stream():
    return Response((b"y" * 1000 for _ in range(30)), mimetype="text/plain")


app.wsgi_app = OtasWSGIMiddleware(app.wsgi_app)
