"""Serving the page: uvicorn on a background thread inside the daemon, or in the foreground.

The daemon embeds it::

    server = WebServer(WebContext(events=engine.events, config_path=config_path(), ...))
    server.start()      # returns once the sockets listen; raises OSError if they cannot
    ...
    server.stop()

``parlo web`` runs :meth:`WebServer.serve_forever` instead, which lets uvicorn
handle Ctrl-C. The sockets are bound here, not by uvicorn, so the page can
listen on several addresses (``web.bind``) and tests can ask for port 0.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence

import uvicorn

from appliance.core.config import Config, ConfigError, load_config
from appliance.web.app import build_app
from appliance.web.context import WebContext
from appliance.web.guard import HEADER_TIMEOUT, PER_ADDRESS, guarded_protocol
from appliance.web.logbuffer import LogRing, install_log_buffer
from appliance.web.security import box_names

log = logging.getLogger(__name__)

# Open event streams included. Each device may hold PER_ADDRESS of them, and a connection
# that has not sent its headers in HEADER_TIMEOUT seconds is closed (appliance.web.guard),
# so half-open connections from a few devices cannot fill them. Each idle connection costs
# a file descriptor and a few KB (parlo.service raises LimitNOFILE for them).
MAX_CONNECTIONS = 512


class WebServer:
    """The teacher's page for ``context``, on ``web.bind``:``web.port`` unless told otherwise."""

    def __init__(
        self,
        context: WebContext,
        *,
        hosts: Sequence[str] | None = None,
        port: int | None = None,
        log_ring: LogRing | None = None,
        header_timeout: float = HEADER_TIMEOUT,
        per_address: int = PER_ADDRESS,
        host_names: Sequence[str] | None = None,
    ) -> None:
        """``host_names``: names the page answers to besides IP addresses and the box's own
        (:func:`~appliance.web.security.box_names`), e.g. a name the school's DNS gives it."""
        try:
            settings = load_config(context.config_path).web
        except (ConfigError, OSError) as error:
            log.warning("web page: using default settings, the config has a problem: %s", error)
            settings = Config().web
        self.hosts = tuple(hosts or settings.bind)
        self.port = settings.port if port is None else port
        self.asgi, self.web = build_app(
            context,
            log_ring or install_log_buffer(),
            settings.session_hours,
            host_names=None if host_names is None else [*box_names(), *host_names],
        )
        self.protocol = guarded_protocol(header_timeout, per_address)
        self.addresses: list[tuple[str, int]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """The first address, as a URL (``http://127.0.0.1:8080``)."""
        host, port = self.addresses[0]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self, timeout: float = 10.0) -> None:
        """Listen and serve on a daemon thread; return once it accepts connections."""
        sockets = self._bind()
        self.web.models.clean_leftovers()
        self._server = uvicorn.Server(self._uvicorn_config())
        self._thread = threading.Thread(
            target=self._run, args=(sockets,), name="web-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._close(sockets)
                raise OSError(f"the web page did not start: {self._failure or 'timed out'}")
            time.sleep(0.02)
        log.info("web page listening on %s", ", ".join(self._pretty()))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: open event streams end within a second, then the thread exits."""
        self.web.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True  # type: ignore[union-attr]
                self._thread.join(timeout)

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM (``parlo web``)."""
        sockets = self._bind()
        self.web.models.clean_leftovers()
        self._server = uvicorn.Server(self._uvicorn_config())
        log.info("web page listening on %s", ", ".join(self._pretty()))
        try:
            self._server.run(sockets=sockets)
        finally:
            self.web.stopping.set()
            self._close(sockets)

    def _run(self, sockets: list[socket.socket]) -> None:
        try:
            assert self._server is not None
            self._server.run(sockets=sockets)
        except BaseException as error:  # uvicorn exits with SystemExit when it cannot start
            self._failure = error
            log.exception("the web page stopped")
        finally:
            self._close(sockets)

    def _uvicorn_config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.asgi,
            log_config=None,  # keep the daemon's logging as it is
            access_log=False,
            lifespan="off",
            http=self.protocol,
            proxy_headers=False,
            server_header=False,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
        )

    def _bind(self) -> list[socket.socket]:
        sockets: list[socket.socket] = []
        port = self.port
        try:
            for host in self.hosts:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
                port = sock.getsockname()[1]  # port 0: every address shares the first free one
        except OSError as error:
            self._close(sockets)
            raise OSError(f"cannot serve the web page on {host} port {port}: {error}") from error
        self.addresses = [(s.getsockname()[0], s.getsockname()[1]) for s in sockets]
        return sockets

    def _pretty(self) -> list[str]:
        return [f"{host}:{port}" for host, port in self.addresses]

    @staticmethod
    def _close(sockets: list[socket.socket]) -> None:
        for sock in sockets:
            sock.close()
