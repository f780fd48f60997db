"""The browser client page at /: served, self-contained, with its vendored Socket.IO client."""

import base64
import hashlib
import json
import os
import re
from html.parser import HTMLParser

from app.security_headers import CONTENT_SECURITY_POLICY, EMOJI_PICKER_STYLE_HASH

STATIC = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app", "static"
)
SOCKET_IO_VERSION = "4.8.4"


class _Sources(HTMLParser):
    """Collects the src of every <script> (and of the module ones) and the href of every <link>."""

    def __init__(self):
        super().__init__()
        self.scripts, self.modules, self.links, self.inline_scripts = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
                if attrs.get("type") == "module":
                    self.modules.append(attrs["src"])
            else:
                self.inline_scripts += 1
        elif tag == "link" and attrs.get("href"):
            self.links.append(attrs["href"])


def _sources(html):
    parser = _Sources()
    parser.feed(html)
    return parser


def _module_graph(entry):
    """{module: [modules it imports]} from `entry` (a /static/ URL), following `from "./x.js"`."""
    graph, todo = {}, [entry]
    while todo:
        url = todo.pop()
        if url in graph:
            continue
        with open(os.path.join(STATIC, url.removeprefix("/static/")), encoding="utf-8") as f:
            source = f.read()
        base = url.rsplit("/", 1)[0]
        graph[url] = [
            f"{base}/{name}"
            for name in re.findall(r"""\bfrom\s+["']\./([\w.-]+\.js)["']""", source)
        ]
        todo.extend(graph[url])
    return graph


def test_page_is_served_with_the_instance_in_the_footer(client, app):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["X-Instance"] == app.config["INSTANCE_ID"]
    html = response.get_data(as_text=True)
    assert f'data-instance="{app.config["INSTANCE_ID"]}"' in html
    assert 'id="login-form"' in html and 'id="composer-input"' in html


def test_page_loads_only_local_scripts_and_styles(client):
    html = client.get("/").get_data(as_text=True)
    found = _sources(html)
    assert found.scripts == [
        "/static/vendor/socket.io.min.js",
        "/static/vendor/markdown-it.min.js",
        "/static/vendor/purify.min.js",
        "/static/js/main.js",
        "/static/boot.js",
    ]
    assert found.modules == ["/static/js/main.js"]
    assert found.inline_scripts == 0
    for url in found.scripts + found.links:
        assert not re.match(r"^(https?:)?//", url), url
        assert url.startswith("/static/"), url


def test_every_static_file_the_page_references_is_served(client):
    found = _sources(client.get("/").get_data(as_text=True))
    for url in found.scripts + found.links:
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()


def test_every_client_module_is_served_as_javascript(client):
    modules = set(_module_graph("/static/js/main.js"))
    on_disk = {f"/static/js/{name}" for name in os.listdir(os.path.join(STATIC, "js"))}
    assert modules == on_disk  # every module is imported, every import exists
    for url in modules:
        response = client.get(url)
        assert response.status_code == 200, url
        # Browsers refuse a module served with any other type.
        assert response.mimetype in ("text/javascript", "application/javascript"), url
        response.close()


def test_vendored_socket_io_client_exists_and_its_version_is_noted(client):
    bundle = os.path.join(STATIC, "vendor", "socket.io.min.js")
    with open(bundle, encoding="utf-8") as f:
        assert f"Socket.IO v{SOCKET_IO_VERSION}" in f.read(300)
    with open(os.path.join(STATIC, "vendor", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "socket.io-client" in readme and SOCKET_IO_VERSION in readme
    html = client.get("/").get_data(as_text=True)
    assert f"socket.io-client {SOCKET_IO_VERSION}" in html


def test_client_modules_import_each_other_without_cycles():
    graph = _module_graph("/static/js/main.js")
    done, path = set(), []

    def visit(module):
        assert module not in path, " -> ".join(path[path.index(module) :] + [module])
        if module in done:
            return
        path.append(module)
        for imported in graph[module]:
            visit(imported)
        path.pop()
        done.add(module)

    visit("/static/js/main.js")
    assert len(done) == len(graph) > 10


def test_client_scripts_never_write_html_from_data():
    folder = os.path.join(STATIC, "js")
    paths = [os.path.join(folder, name) for name in sorted(os.listdir(folder))]
    assert os.path.join(folder, "main.js") in paths
    for name in paths + [os.path.join(STATIC, "boot.js")]:
        with open(name, encoding="utf-8") as f:
            source = f.read()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in source, (name, sink)


def test_the_csp_allows_the_vendored_emoji_pickers_stylesheet_by_its_hash():
    """emoji-picker-element puts `baseStyles` and a font-family rule in a <style>
    of its shadow root; the policy names that exact text's hash."""
    with open(os.path.join(STATIC, "vendor", "emoji-picker-element", "picker.js")) as f:
        source = f.read()
    font = re.search(r"const FONT_FAMILY = ((?:'[^']*'\s*\+?\s*)+);", source)
    assert font
    font_family = "".join(re.findall(r"'([^']*)'", font.group(1)))
    base = re.search(r'var baseStyles = ("(?:[^"\\]|\\.)*");', source)
    assert base
    assert "const EXTRA_STYLES = `:host{--emoji-font-family:${FONT_FAMILY}}`;" in source
    text = json.loads(base.group(1)) + ":host{--emoji-font-family:" + font_family + "}"
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    assert EMOJI_PICKER_STYLE_HASH == f"sha256-{digest}"
    assert f"style-src-elem 'self' '{EMOJI_PICKER_STYLE_HASH}'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY + ";"
