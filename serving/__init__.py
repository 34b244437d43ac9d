"""Serving a WSGI application with waitress, for ``python -m idp`` and ``python -m
resource_api`` alike (neither imports the other): the common options, the listening sockets,
worker processes, and the transport's limits.

    parser = argparse.ArgumentParser()
    serving.add_arguments(parser)               # --workers, --threads, --log-level, limits
    args = parser.parse_args()
    serving.configure(args.log_level)
    listener = serving.bind(host, port, serving.options(args))   # raises ListenError
    print(f"listening on port {serving.port_of(listener)} ({listener.summary()})")
    serving.serve(app, listener, name="idp", limits={"max_request_body_size": ...})

With ``--metrics-port``, ``management = serving.open_management(options)`` comes before the
application is built, and goes to ``serve(..., management=management, ready={...})``.

Modules: ``options`` (the options and their defaults), ``listen`` (sockets, open-file limit),
``workers`` (processes and signals), ``connections`` (who may connect and for how long),
``http1`` (RFC 9112 framing, waitress's own answers in JSON), ``management`` (the metrics and
health port).
"""

from .listen import Listener, ListenError, bind, close, port_of
from .management import Check, Management, open_management
from .options import Options, add_arguments, options, waitress_settings
from .workers import configure, serve

__all__ = ["Check", "ListenError", "Listener", "Management", "Options", "add_arguments", "bind",
           "close", "configure", "open_management", "options", "port_of", "serve",
           "waitress_settings"]
