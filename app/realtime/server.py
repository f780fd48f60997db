"""The app's Flask-SocketIO server, created unbound here and bound in create_app().

Apart from app.extensions so that what imports the extensions (the models,
and through them the domain) loads nothing of Socket.IO."""

from flask_socketio import SocketIO

socketio = SocketIO()
