"""Forwarded headers, believed only from the proxies CLERK_MIRROR_TRUSTED_PROXIES names.

werkzeug's ProxyFix reads X-Forwarded-For and X-Forwarded-Proto, but trusts whoever is
one hop away; a client that reaches the web directly could claim any address or HTTPS.
So ProxyFix runs only for a request whose peer is a listed proxy, and such a request is
marked (VIA_PROXY) for the console's user header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from worker.config import Network

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

VIA_PROXY = "clerk_mirror.via_trusted_proxy"


class TrustedProxies:
    """WSGI middleware: ProxyFix (one hop) for requests from the listed proxies only."""

    def __init__(self, app: WSGIApplication, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks
        self.fixed = ProxyFix(app, x_for=1, x_proto=1)

    def trusts(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ.pop(VIA_PROXY, None)
        if not self.trusts(environ.get("REMOTE_ADDR")):
            return self.app(environ, start_response)
        environ[VIA_PROXY] = True
        return self.fixed(environ, start_response)
