"""moto's server as the embedded AWS emulator, applying one AWS request at a time, with
moto's transactions fixed (local_run.moto_fixes), its KMS signing of digests
(local_run.moto_kms), and what its SES sent shown at GET /_aws/ses (local_run.moto_ses).

moto's threaded server interleaves concurrent requests inside its backends, which would
let two conditional writes both pass; DynamoDB applies each request atomically. A lock
around the whole WSGI call restores that, so races in our own code stay testable."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from local_run import moto_fixes, moto_kms, moto_ses
from local_run.lifetime import exit_with_parent


def serialized(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return [b"".join(app(environ, start_response))]

    return application


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    exit_with_parent()
    moto_fixes.install()
    moto_kms.install()
    moto_ses.install()
    app = serialized(moto_ses.with_sent_messages(DomainDispatcherApplication(create_backend_app)))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    print(f"READY {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
