# Loaded by the MLflow server's Python when start.sh runs it with
# VERDICT_MLFLOW_TCP_NODELAY=1 (this directory goes on PYTHONPATH).
#
# Works around uvicorn issue #3149 (uvicorn 0.54.0, which MLflow 3.17.2
# runs): with --workers N > 1, uvicorn binds the listening socket itself
# with proto 0, accepted sockets inherit proto 0, and asyncio then skips
# TCP_NODELAY (it sets it only when proto == IPPROTO_TCP). Nagle's
# algorithm holds the response body back until the client ACKs the
# headers, which a Linux client delays by ~40 ms: every request on a
# kept-alive connection after the first takes ~40 ms more. One worker is
# not affected (asyncio binds that socket itself, with proto 6). This sets
# TCP_NODELAY on every accepted TCP socket, as asyncio means to.
import socket

import asyncio.base_events as _base_events


def _set_nodelay(sock):
    if sock.family in {socket.AF_INET, socket.AF_INET6} and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_base_events._set_nodelay = _set_nodelay
