"""Flask's cookie sessions, opened without cost when there is no cookie.

Flask opens a session for every request and every Socket.IO event
(Flask-SocketIO pushes a request context for each), and its cookie session
interface builds its signing serializer first, cookie or not. Nothing here
keeps data in Flask's session (the API takes bearer tokens, and
Flask-SocketIO keeps each socket's own), so requests and events carry no
session cookie: for them the empty session is made directly. With a cookie, Flask's own code runs.
"""

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)
