"""Proxies from the environment (HTTP_PROXY, ALL_PROXY=socks5://…) and this machine's loopback."""

from __future__ import annotations

import urllib.request
from collections.abc import MutableMapping

PROXY_VARIABLES = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy", "https_proxy", "http_proxy")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""For the kit's own servers on this machine (make lab's JupyterLab, make serve-local's llama-server): through
a learner's or teacher's HTTP_PROXY (set for pip, say) they would never answer."""


def keep_loopback_off_proxies(env: MutableMapping[str, str]) -> None:
    """Add the loopback names to NO_PROXY when a proxy is set. Auto mode finds the local server
    with a direct connection, so the SDK must reach it directly too: a proxy elsewhere cannot
    see this machine's 127.0.0.1, and the request would fail with a misleading connection error."""
    if not any(env.get(name) for name in PROXY_VARIABLES):
        return
    listed = env.get("no_proxy") or env.get("NO_PROXY") or ""
    hosts = [host.strip() for host in listed.split(",") if host.strip()]
    missing = [host for host in LOOPBACK_HOSTS if host not in hosts]
    if missing:
        env["NO_PROXY"] = env["no_proxy"] = ",".join(hosts + missing)  # urllib prefers the lower-case one
