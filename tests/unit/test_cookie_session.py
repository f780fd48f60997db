"""Flask's session without a cookie costs nothing (app/cookie_session.py); with
one, it is Flask's cookie session as ever."""


def test_without_a_cookie_the_session_is_empty_and_no_serializer_is_built(app, monkeypatch):
    interface = app.session_interface
    built = []
    monkeypatch.setattr(
        type(interface), "get_signing_serializer", lambda self, app: built.append(app)
    )
    with app.test_request_context("/api/me") as ctx:
        session = interface.open_session(app, ctx.request)
    assert dict(session) == {} and not session.modified
    assert built == []


def test_a_signed_session_cookie_is_still_read(app):
    interface = app.session_interface
    cookie = interface.get_signing_serializer(app).dumps({"seen": 1})
    name = interface.get_cookie_name(app)
    with app.test_request_context("/", headers={"Cookie": f"{name}={cookie}"}) as ctx:
        assert dict(interface.open_session(app, ctx.request)) == {"seen": 1}
    with app.test_request_context("/", headers={"Cookie": f"{name}=forged"}) as ctx:
        assert dict(interface.open_session(app, ctx.request)) == {}
