"""The WSGI entry point gunicorn loads: `gunicorn -c python:app.gunicorn_conf wsgi:app`."""

from app.config import Config

config = Config.from_env()

# psycopg2 blocks a green worker unless its waits go through the event loop.
if config.ASYNC_MODE == "eventlet":
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
elif config.ASYNC_MODE == "gevent":
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

from app import create_app  # noqa: E402  (after the psycopg2 patch)

app = create_app(config)
