"""Extensions, created unbound here and bound in create_app(). The Socket.IO
server is app.realtime.server.socketio (importing this module loads nothing of
Socket.IO)."""

from typing import Any

from apispec import BasePlugin
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from app.clientaddr import client_key
from app.errors import ErrorSchema


class Base(DeclarativeBase):
    # Named constraints, so that migrations can drop and alter them on every backend.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SchemaExtrasPlugin(BasePlugin):
    """apispec plugin: a schema's OPENAPI_EXTRA (a dict) is merged into its
    component, for rules that span fields (e.g. `anyOf` of required fields),
    which marshmallow fields cannot state."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        return getattr(schema, "OPENAPI_EXTRA", None)


class ChatApi(Api):
    """flask-smorest's Api, documenting errors in this app's one error shape."""

    ERROR_SCHEMA = ErrorSchema


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = ChatApi()
# Per client address, an IPv6 client by its /64 (app/clientaddr.py).
limiter = Limiter(key_func=client_key)
