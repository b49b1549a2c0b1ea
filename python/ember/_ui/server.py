"""The UI's HTTP/1.1 handling: one request per connection, then the connection closes.

Bounds, so that no client can hold up the driver: the request line and headers
together may be at most MAX_REQUEST bytes (431 past it), the whole request must
arrive within REQUEST_SECONDS and each read or write may wait at most
SOCKET_SECONDS; a request body is never read (only GET and HEAD are served; others
get 405). Errors of the API answer JSON ``{"error": ...}`` as a 4xx.
"""
import json
import time
from urllib.parse import parse_qs, unquote, urlsplit

from ember._ui import api, pages

MAX_REQUEST = 16 * 1024
REQUEST_SECONDS = 10.0
SOCKET_SECONDS = 5.0

_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented",
            503: "Service Unavailable"}


class HTTPError(Exception):
    """An answer other than 200: status and the message of the JSON error."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def read_request(conn):
    """The head of the request on conn (bytes up to the blank line), or raises
    HTTPError (400, 408, 431)."""
    deadline = time.monotonic() + REQUEST_SECONDS
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HTTPError(408, f"the request did not arrive within {REQUEST_SECONDS:g} s")
        conn.settimeout(min(SOCKET_SECONDS, left))
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            raise HTTPError(408, f"the request did not arrive within {REQUEST_SECONDS:g} s") from None
        if not chunk:
            raise HTTPError(400, "the connection closed before the request's headers ended")
        buf += chunk
        if len(buf) > MAX_REQUEST and b"\r\n\r\n" not in buf[:MAX_REQUEST]:
            raise HTTPError(431, f"the request line and headers exceed {MAX_REQUEST} bytes")
    return buf.split(b"\r\n\r\n", 1)[0]


def parse_request_line(head):
    """(method, path, query dict) of a request head; HTTPError 400/405 when malformed."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1.") or not parts[1].startswith(b"/"):
        raise HTTPError(400, "malformed request line: expected 'GET /path HTTP/1.1'")
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise HTTPError(400, "the request line is not ASCII") from None
    if method not in ("GET", "HEAD"):
        raise HTTPError(405, f"method {method} is not allowed: the UI serves GET and HEAD")
    url = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    return method, unquote(url.path), query


def respond(conn, status, body, content_type, head_only=False, extra=()):
    reason = _REASONS.get(status, "Error")
    headers = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
               "Cache-Control: no-store", "X-Content-Type-Options: nosniff", "Connection: close", *extra]
    data = ("\r\n".join(headers) + "\r\n\r\n").encode("ascii") + (b"" if head_only else body)
    conn.settimeout(SOCKET_SECONDS)
    conn.sendall(data)


def json_body(obj):
    return json.dumps(obj, indent=2).encode("utf-8")


def error_body(status, message):
    return json_body({"error": message, "status": status})


def route(ui, path, query):
    """(status, body bytes, content type, extra headers) for a GET of path."""
    with ui.reading():
        sc = ui.context()
        if sc is None:
            raise HTTPError(503, "the SparkContext is stopping or gone")
        return _route(sc, path, query)


def _route(sc, path, query):
    if path == "/":
        return 302, b"", "text/plain", ("Location: /jobs/",)
    if path == "/api/v1" or path.startswith("/api/v1/"):
        return 200, json_body(api.get(sc, path[len("/api/v1"):].strip("/").split("/"), query)), \
            "application/json", ()
    page = pages.render(sc, path, query)
    if page is None:
        raise HTTPError(404, f"no such page: {path} (the UI has /jobs/, /stages/, /storage/, /executors/, "
                             "/environment/ and the REST API under /api/v1/applications)")
    return 200, page.encode("utf-8"), "text/html; charset=utf-8", ()


def serve_connection(conn, ui):
    """Answers the one request on conn (which the caller closes)."""
    method = "GET"
    try:
        try:
            head = read_request(conn)
            method, path, query = parse_request_line(head)
            status, body, ctype, extra = route(ui, path, query)
        except HTTPError as e:
            status, body, ctype = e.status, error_body(e.status, str(e)), "application/json"
            extra = ("Allow: GET, HEAD",) if e.status == 405 else ()
        except api.NotFound as e:
            status, body, ctype, extra = 404, error_body(404, str(e)), "application/json", ()
        except api.NotAvailable as e:
            status, body, ctype, extra = 501, error_body(501, str(e)), "application/json", ()
        except api.BadParameter as e:
            status, body, ctype, extra = 400, error_body(400, str(e)), "application/json", ()
        except Exception as e:  # a bug of the UI's must not end its thread silently
            status, body, ctype, extra = 500, error_body(500, f"{type(e).__name__}: {e}"), "application/json", ()
        respond(conn, status, body, ctype, method == "HEAD", extra)
    except OSError:
        pass  # the client went away or stalled: nothing more to do
