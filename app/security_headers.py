"""Security headers on every response; a strict Content Security Policy on pages."""

from flask import Flask, Response

EMOJI_PICKER_STYLE_HASH = "sha256-rg2BpwZ4T9EADaas/dlxn0KsISPDXXIabE9pnJ++3UQ="

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # The emoji picker (static/vendor/emoji-picker-element) puts one fixed
        # stylesheet in its shadow root (allowed by its hash, which
        # tests/unit/test_pages.py checks against the vendored file) and sets
        # style attributes for its layout. Bodies are sanitized to a few
        # elements with `href` alone, so no user content carries a style.
        f"style-src-elem 'self' '{EMOJI_PICKER_STYLE_HASH}'",
        "style-src-attr 'unsafe-inline'",
        # blob: the images of attachments, fetched with the token (static/js/file-urls.js)
        "img-src 'self' data: blob:",
        # 'self' covers the page's own origin over ws: and wss: too (CSP Level 3).
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


def same_origin(origin: str | None, environ: dict) -> bool:
    """Socket.IO's origin check when no CORS_ORIGINS are listed: the page's own
    origin only, `scheme://host` of the request as the app sees it.

    Behind the proxy, ProxyFix (PROXY_HOPS) has already put the scheme and host
    our nginx passed in X-Forwarded-Proto and X-Forwarded-Host into the
    environ. python-engineio's default check would also accept the first value
    of those headers as received, which a client can write; this one does not."""
    scheme = environ.get("wsgi.url_scheme")
    host = environ.get("HTTP_HOST")
    if not origin or not scheme or not host:
        return False
    return origin.lower() == f"{scheme}://{host}".lower()
