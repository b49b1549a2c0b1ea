"""The live web UI and Spark's monitoring REST API, served by the driver.

:func:`start` starts the UI's thread, which binds the listening socket
(``spark.ui.host``, 127.0.0.1 unless set; ``spark.ui.port``, 4040, or the next free
port up to ``spark.port.maxRetries`` further, as Spark) and accepts connections. The
context's own thread does nothing more: it does not wait for the bind (``url`` does),
and importing ``_socket`` and binding happen while the context starts its workers. Each
connection is served on a short-lived thread, at most :data:`MAX_CONNECTIONS` at once
(more are closed unanswered), with a bounded request and a timeout (see ``server``), so
a slow or malformed client never holds up jobs or the driver. The request parser, the
pages and the JSON are imported by the first connection's thread.

The server reads what the context already keeps (its job history, the engine's stage
and task figures); it holds no lock of the engine's while it renders.
"""
import threading
import weakref

MAX_CONNECTIONS = 8
BIND_WAIT_SECONDS = 10.0

__all__ = ["start", "UI"]


class UI:
    """A listening socket and the thread that accepts on it; :meth:`close` closes
    the port (the acceptor ends; connections being served finish on their own)."""

    def __init__(self, sc, host, port, retries):
        self._sc = weakref.ref(sc)
        self._sock = None
        self.host = host
        self.port = None
        self._url = None
        self._asked = (port, retries)
        self._closed = False
        self._bound = threading.Event()  # set once the bind succeeded or failed
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._reading = threading.Lock()  # held while a request reads the context's figures
        self._thread = threading.Thread(target=self._run, name="ember-ui", daemon=True)
        self._thread.start()

    @property
    def url(self):
        """``http://host:port``, or None when no port could be bound (waits for the
        UI's thread to have tried)."""
        self._bound.wait(BIND_WAIT_SECONDS)
        return self._url

    def _run(self):
        import _socket
        port, retries = self._asked
        try:
            try:
                self._sock, self.port = _bind(self.host, port, retries)
            except OSError as e:
                from ember import log
                tried = str(port) if port == 0 else f"{port}-{min(port + retries, 65535)}"
                log.logger.warning("The web UI is not started: could not listen on %s port %s (%s); set "
                                   "spark.ui.port to a free port or raise spark.port.maxRetries", self.host, tried, e)
                return
            shown = _socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
            self._url = f"http://[{shown}]:{self.port}" if ":" in shown else f"http://{shown}:{self.port}"
        finally:
            self._bound.set()
        from ember import log
        if self.port != port and port != 0:
            log.warning("The web UI could not listen on port %d (taken); it listens on port %d", port, self.port)
        log.info("Web UI at %s", self._url)
        self._accept_loop(_socket)

    def _accept_loop(self, _socket):
        while True:
            try:
                fd, _ = self._sock._accept()
            except OSError:
                if self._closed:
                    return
                # Out of file descriptors and the like: wait a little, keep serving.
                threading.Event().wait(0.1)
                continue
            conn = _socket.socket(self._sock.family, _socket.SOCK_STREAM, 0, fd)
            if self._closed or not self._slots.acquire(blocking=False):
                conn.close()
                continue
            try:
                threading.Thread(target=self._serve_one, args=(conn,), name="ember-ui-conn", daemon=True).start()
            except RuntimeError:  # no thread to be had (interpreter exiting, limits)
                conn.close()
                self._slots.release()

    def _serve_one(self, conn):
        try:
            from ember._ui import server
            server.serve_connection(conn, self)
        finally:
            conn.close()
            self._slots.release()

    def context(self):
        """The SparkContext served, or None once it is gone or closing."""
        return None if self._closed else self._sc()

    def reading(self):
        """A lock to hold while reading the context's figures: close() takes it, so that
        no request reads the engine while stop() frees it."""
        return self._reading

    def close(self):
        """Closes the port: the acceptor thread ends at once. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._reading:  # requests reading the engine's figures finish first
            pass
        self._bound.wait(BIND_WAIT_SECONDS)
        if self._sock is not None:
            import _socket
            try:
                self._sock.shutdown(_socket.SHUT_RDWR)  # wakes the blocked accept
            except OSError:
                pass
            self._thread.join(timeout=5)
            self._sock.close()


def _bind(host, port, retries):
    """A listening socket on host at port or one of the next `retries` ports (any
    free one for port 0), and its port. Raises OSError from the last try when none
    is free."""
    import _socket
    family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
    last = None
    for p in [port] if port == 0 else range(port, min(port + retries, 65535) + 1):
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            sock.bind((host, p))
            sock.listen(64)
            return sock, sock.getsockname()[1]
        except OSError as e:
            sock.close()
            last = e
    raise last


def start(sc, conf):
    """Starts the UI of sc as conf says; returns the UI, or None when
    ``spark.ui.enabled`` is false. When no port is free (or the host cannot be
    bound) the context runs without a UI (``url`` is None), with a warning naming
    the ports tried."""
    if conf.get("spark.ui.enabled", "true").strip().lower() != "true":
        return None
    host = conf.get("spark.ui.host", "127.0.0.1")
    try:
        port = int(conf.get("spark.ui.port", "4040"))
        retries = int(conf.get("spark.port.maxRetries", "16"))
    except ValueError as e:
        raise ValueError(f"spark.ui.port and spark.port.maxRetries must be integers: {e}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"spark.ui.port must be between 0 and 65535 (0: any free port), got {port}")
    return UI(sc, host, port, retries)
