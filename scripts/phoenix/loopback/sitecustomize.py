# Loaded by the Phoenix server that start.sh runs (it is on its PYTHONPATH).
#
# Phoenix binds its OTLP/gRPC receiver to every interface ("[::]:PORT",
# phoenix/server/grpc_server.py) and has no setting for the host; its HTTP
# server honours PHOENIX_HOST. A test server must listen on 127.0.0.1 only,
# so the gRPC server's ports are rewritten to the loopback address here.
import grpc.aio._server as _aio_server

_add_insecure_port = _aio_server.Server.add_insecure_port
_add_secure_port = _aio_server.Server.add_secure_port


def _loopback(address: str) -> str:
    for wildcard in ("[::]:", "0.0.0.0:"):
        if address.startswith(wildcard):
            return "127.0.0.1:" + address[len(wildcard):]
    return address


def add_insecure_port(self, address):
    return _add_insecure_port(self, _loopback(address))


def add_secure_port(self, address, server_credentials):
    return _add_secure_port(self, _loopback(address), server_credentials)


_aio_server.Server.add_insecure_port = add_insecure_port
_aio_server.Server.add_secure_port = add_secure_port
