"""Pages: the browser client at / and the human-readable API docs."""

from flask import Blueprint, current_app, render_template

from app.extensions import api

bp = Blueprint("pages", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/")
def index() -> str:
    """The browser chat client."""
    return render_template("index.html", instance=current_app.config["INSTANCE_ID"])


@bp.get("/api/docs")
def docs() -> str:
    """The REST API, rendered from the same OpenAPI document as /api/openapi.json."""
    spec = api.spec.to_dict()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    return render_template("docs.html", spec=spec, operations=operations)
