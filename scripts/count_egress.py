"""Run a command with every proxied HTTP(S) request counted and refused: how many requests
try to leave this machine (``make record PROVIDER=local`` with cloud keys set must send none).

Usage: ``python scripts/count_egress.py -- make record PROVIDER=local``

A proxy on a loopback port becomes HTTP_PROXY/HTTPS_PROXY for the command; the kit keeps
loopback addresses off proxies, so the local server is reached directly and only a request
for another host arrives here. Each is counted by host and answered 403, nothing is forwarded.
Run it inside ``scripts/offline.sh`` too, so that a client ignoring the proxy finds no route.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

attempts: collections.Counter[str] = collections.Counter()


class CountingProxy(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        host = self.path.split(":")[0] if self.command == "CONNECT" else (urlsplit(self.path).hostname or "?")
        attempts[host] += 1
        self.send_error(403, "count_egress: not forwarded")

    do_CONNECT = do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _refuse

    def log_message(self, *_args: object) -> None:
        pass


def main(argv: list[str]) -> int:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print(__doc__)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    loopback = "127.0.0.1,localhost,::1"
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
           "NO_PROXY": loopback, "no_proxy": loopback}  # fmt: skip
    status = subprocess.call(command, env=env)
    server.shutdown()
    total = sum(attempts.values())
    detail = "，".join(f"{host} {count}" for host, count in attempts.most_common()) or "无"
    print(f"count_egress: 发往本机以外的请求 {total} 个（{detail}）；命令退出码 {status}")
    return status or (1 if total else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
