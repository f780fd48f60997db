"""Where the rules live: the domain (app/chat) knows nothing of sockets or Redis,
all the way down; the channel names are spelled in one place; no import loops
and no import from a layer above; no private name of a library outside
app/library_hooks."""

import ast
import importlib
import json
import os
import pathlib
import re
import subprocess
import sys
import types

import pytest

from app.chat import notify

APP = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app"
)
CHAT = os.path.join(APP, "chat")
FORBIDDEN_IN_DOMAIN = (
    "redis",
    "socketio",
    "flask_socketio",
    "app.realtime",
    "engineio",
    "eventlet",
    "gevent",
)


def _imports(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def _python_files(folder):
    for root, _, files in os.walk(folder):
        yield from (os.path.join(root, f) for f in files if f.endswith(".py"))


@pytest.mark.parametrize("path", sorted(_python_files(CHAT)), ids=os.path.basename)
def test_the_domain_imports_nothing_about_sockets_redis_or_presence(path):
    bad = [
        m
        for m in _imports(path)
        if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)
    ]
    assert bad == []


def test_channel_names_are_spelled_only_in_the_channel_helpers():
    spelled = re.compile(r"""f?["'](room|user):""")
    places = [
        os.path.relpath(p, APP)
        for p in _python_files(APP)
        if spelled.search(open(p, encoding="utf-8").read())
    ]
    assert places == [os.path.join("realtime", "__init__.py")]


class Recording(notify.Listener):
    """Keeps what the domain announced and asked, in order."""

    def __init__(self):
        self.calls = []

    def message_created(self, message, repeat=False, shaped=None):
        self.calls.append(("message_created", message.body) + (("repeat",) if repeat else ()))
        return not repeat

    def message_edited(self, message):
        self.calls.append(("message_edited", message.body))

    def message_deleted(self, message):
        self.calls.append(("message_deleted", message.body))

    def member_added(self, room, user):
        self.calls.append(("member_added", room.name, user.username))

    def member_left(self, room, user):
        self.calls.append(("member_left", room.name, user.username))

    def read(self, room, user, message_id):
        self.calls.append(("read", room.name, user.username))

    def mentioned(self, user, message, shaped=None):
        self.calls.append(("mentioned", user.username, message.body))

    def reactions_changed(self, message):
        self.calls.append(("reactions_changed", [r["emoji"] for r in message.reaction_list]))

    def typing(self, room, user, typing, origin=None):
        self.calls.append(("typing", room.name, user.username, typing))

    def online_user_ids(self, user_ids):
        self.calls.append(("online_user_ids", len(user_ids)))
        return set(user_ids)


@pytest.fixture
def listener_of(app):
    """listener_of(listener or None): the app's domain announces to it for this test."""
    previous = app.extensions.get(notify.EXTENSION_KEY)

    def install(listener):
        app.extensions.pop(notify.EXTENSION_KEY, None)
        if listener is not None:
            notify.init_app(app, listener)
        return listener

    yield install
    notify.init_app(app, previous)


def test_the_domain_announces_what_happened_through_the_notifier(
    client, alice, bob, make_room, send, socket_for, listener_of
):
    recording = listener_of(Recording())
    make_room(alice, "plans", private=True)
    client.post("/api/rooms/plans/members", json={"username": "bob"}, headers=alice.headers)
    message = send(alice, "plans", "hi", client_id="c1").get_json()
    assert send(alice, "plans", "hi", client_id="c1").status_code == 200
    client.patch(f"/api/messages/{message['id']}", json={"body": "hi @bob"}, headers=alice.headers)
    client.put(f"/api/messages/{message['id']}/reactions/:ok:", headers=bob.headers)
    client.post("/api/rooms/plans/read", json={"message_id": message["id"]}, headers=bob.headers)
    members = client.get("/api/rooms/plans/members", headers=bob.headers).get_json()
    socket_for(bob).emit("typing", {"room": "plans", "typing": True}, callback=True)
    client.delete(f"/api/messages/{message['id']}", headers=alice.headers)
    client.delete("/api/rooms/plans/members/me", headers=bob.headers)
    assert recording.calls == [
        ("member_added", "plans", "alice"),
        ("member_added", "plans", "bob"),
        ("message_created", "hi"),
        ("message_created", "hi", "repeat"),
        ("message_edited", "hi @bob"),
        ("mentioned", "bob", "hi @bob"),
        ("reactions_changed", [":ok:"]),
        ("read", "plans", "bob"),
        ("online_user_ids", 2),
        ("typing", "plans", "bob", True),
        ("message_deleted", ""),
        ("member_left", "plans", "bob"),
    ]
    assert all(m["online"] for m in members["members"])


def test_without_a_listener_the_domain_tells_nobody(client, alice, make_room, send, listener_of):
    listener_of(None)
    make_room(alice, "quiet")
    assert send(alice, "quiet", "hello").status_code == 201
    members = client.get("/api/rooms/quiet/members", headers=alice.headers).get_json()
    assert members["members"][0]["online"] is False


# --- the shape of the code: layers, loops, the fence ------------------------------

ROOT = os.path.dirname(APP)
DOMAIN_BLIND_TO = ("socketio", "engineio", "flask_socketio", "redis", "eventlet", "gevent")


def test_importing_the_domain_loads_nothing_of_sockets_or_redis():
    """All the way down, not only its own imports: a fresh interpreter imports
    app.chat and lists what it loaded."""
    script = "import json, sys; import app.chat; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert "app.chat" in loaded
    assert [m for m in loaded if m.split(".")[0] in DOMAIN_BLIND_TO] == []


def _module_files(top):
    """{dotted module name: path} of the package `top` (app or bench) under ROOT."""
    found = {}
    for root, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = [d for d in dirs if d not in ("static", "templates", "peers", "results")]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[module.removesuffix(".__init__")] = path
    return found


MODULES = {**_module_files("app"), **_module_files("bench")}


def _imported_modules(module, path):
    """The modules of app/ and bench/ that `module` imports, wherever in it (a
    function's import counts: it is a dependency all the same)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}"
                elif base in MODULES:
                    yield base


IMPORT_GRAPH = {m: set(_imported_modules(m, p)) - {m} for m, p in MODULES.items()}


def _cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_loops_in_app_or_bench():
    assert _cycles(IMPORT_GRAPH) == []


def test_the_loop_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Each module's layer: a module imports only from its own layer or those below.
# A new module of app/ gets its layer here.
LAYERS = [
    # 0: hooks into libraries' internals; imports nothing of the app
    ("app.library_hooks",),
    # 1: settings, errors, the models and services every layer uses
    (
        "app.config",
        "app.clientaddr",
        "app.logs",
        "app.errors",
        "app.jsonlimits",
        "app.extensions",
        "app.models",
        "app.search_index",
        "app.dbpool",
        "app.cookie_session",
        "app.collector",
        "app.metrics",
        "app.ratelimit",
        "app.revocations",
        "app.user_cache",
        "app.auth",
        "app.schema_state",
        "app.file_storage",
        "app.offload",
    ),
    # 2: the domain
    ("app.chat",),
    # 3: the domain's objects as the API shows them
    ("app.schemas",),
    # 4: sockets, presence, the message queue's users
    ("app.realtime",),
    # 5: the entry points
    (
        "app.api",
        "app.health",
        "app.pages",
        "app.security_headers",
        "app.cli",
        "app.gunicorn_conf",
        "app.external_emitter",
        "app",
    ),
]


def _layer(module):
    for number, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "app"):
            return number
    return len(LAYERS) - 1 if module == "app" else None


def test_every_module_of_app_has_a_layer():
    assert [m for m in MODULES if m.startswith("app") and _layer(m) is None] == []


def test_no_module_imports_one_meant_to_sit_above_it():
    upward = [
        f"{module} -> {other}"
        for module, others in sorted(IMPORT_GRAPH.items())
        if _layer(module) is not None
        for other in sorted(others)
        if _layer(other) is not None and _layer(other) > _layer(module)
    ]
    assert upward == []


# --- the fence: no private name of a library outside app/library_hooks -------------

FENCE = os.path.join(APP, "library_hooks")

# Underscored names that their library documents for use, and why.
DOCUMENTED_UNDERSCORED = {
    # Flask: "LocalProxy._get_current_object" is the documented way to the object
    "_get_current_object",
    # marshmallow: a custom Field implements _serialize/_deserialize (its docs)
    "_serialize",
    "_deserialize",
}


def _outside_fence():
    return [p for p in _python_files(APP) if not p.startswith(FENCE + os.sep) and p != FENCE]


def _app_defined_private_names():
    """Every underscored name app/ outside the fence defines itself."""
    names = set()
    for path in _outside_fence():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {n for n in names if _private(n)}


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_imports(tree):
    """{local name: (module, attribute or None)} of what a file imports from
    outside app/."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "app":
                    found[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0],
                        None,
                    )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] != "app":
                for alias in node.names:
                    found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def _resolve(imported):
    module, attribute = imported
    try:
        value = importlib.import_module(module)
    except ImportError:
        return None
    if attribute is None:
        return value
    if not hasattr(value, attribute):  # a submodule not imported by its package
        try:
            importlib.import_module(f"{module}.{attribute}")
        except ImportError:
            return None
    return getattr(value, attribute, None)


def _root_name(node):
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _fence_breaches(path, app_private):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    libraries = _library_imports(tree)
    breaches = []

    def where(node, what):
        breaches.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}: {what}")

    in_classes = {
        id(node)
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for node in ast.walk(cls)
    }
    for node in ast.walk(tree):
        # A library's module or class patched: `module.name = ...`
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root_name(node)
            if root in libraries:
                target = _attribute_of(_resolve(libraries[root]), node.value)
                if isinstance(target, (types.ModuleType, type)):
                    where(node, f"sets {ast.unparse(node)} of a library")
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        if node.attr in DOCUMENTED_UNDERSCORED:
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls") and id(node) in in_classes:
            continue  # the class's own (its library bases: below)
        if node.attr not in app_private:
            where(node, f"reads {ast.unparse(node)}, a name no app module defines")
    # A class of the app using an underscored name of its library base class.
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        library_bases = [
            _attribute_of(_resolve(libraries[_root_name(b)]), b)
            for b in cls.bases
            if _root_name(b) in libraries
        ]
        library_bases = [b for b in library_bases if isinstance(b, type)]
        if not library_bases:
            continue
        for node in ast.walk(cls):
            name = None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                name = node.attr if node.value.id in ("self", "cls") else None
            if (
                name
                and _private(name)
                and name not in DOCUMENTED_UNDERSCORED
                and any(hasattr(b, name) for b in library_bases)
            ):
                where(node, f"{cls.name} uses {name} of its library base class")
    return breaches


def _attribute_of(root_value, node):
    """The object a base-class expression (`Name` or `module.Class`) stands for."""
    if root_value is None:
        return None
    path = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    for attr in reversed(path):
        root_value = getattr(root_value, attr, None)
    return root_value


def test_no_module_outside_the_fence_touches_a_librarys_private_names():
    app_private = _app_defined_private_names()
    breaches = [b for p in _outside_fence() for b in _fence_breaches(p, app_private)]
    assert breaches == []


def test_the_fence_check_sees_a_breach(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import engineio.socket\n"
        "from gunicorn import util\n"
        "from socketio import RedisManager\n"
        "util.write_error = print\n"
        "def f(conn, cls):\n"
        "    return conn._sock, cls._sa_class_manager\n"
        "class M(RedisManager):\n"
        "    def _redis_listen_with_retries(self):\n"
        "        self._redis_connect()\n"
        "    def _mine(self):\n"
        "        return engineio.socket.Socket._send_ping\n"
    )
    breaches = sorted(b.split(": ", 1)[1] for b in _fence_breaches(str(sample), set()))
    assert breaches == sorted(
        [
            "sets util.write_error of a library",
            "reads conn._sock, a name no app module defines",
            "reads cls._sa_class_manager, a name no app module defines",
            "reads engineio.socket.Socket._send_ping, a name no app module defines",
            "M uses _redis_listen_with_retries of its library base class",
            "M uses _redis_connect of its library base class",
        ]
    )


# --- type hints ---------------------------------------------------------------


def _public_functions(tree: ast.Module):
    """(name, node) of the module's public functions and its public classes'
    public methods (not nested functions, not dunders)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    if not item.name.startswith("_"):
                        yield f"{node.name}.{item.name}", item


def _missing_hints(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if params and params[0].arg in ("self", "cls"):
        params = params[1:]
    missing = [p.arg for p in params if p.annotation is None]
    missing += [f"*{a.arg}" for a in (args.vararg, args.kwarg) if a and a.annotation is None]
    if node.returns is None:
        missing.append("return")
    return missing


def test_every_public_function_of_app_has_type_hints():
    unhinted = []
    for path in sorted(pathlib.Path(APP).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for name, node in _public_functions(tree):
            missing = _missing_hints(node)
            if missing:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                unhinted.append(f"{where} {name}: {', '.join(missing)}")
    assert unhinted == []


def test_the_type_hint_check_sees_a_missing_hint():
    tree = ast.parse("def f(a, b: int) -> int: ...\nclass C:\n    def g(self, x: int): ...\n")
    found = {name: _missing_hints(node) for name, node in _public_functions(tree)}
    assert found == {"f": ["a"], "C.g": ["return"]}
