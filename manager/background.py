"""The manager's side services: the REST API, the recurring-job scheduler, the read models kept current.

``background_services(app, api, jobs)`` starts the job scheduler (``manager.jobs``;
only on the leader, which makes the cluster-wide decisions — several schedulers on
one store would still fire each time once) and, when ``api`` is a (host, port), the
REST API (``adapters.rest.start_api``) on the manager's own application (asking
engines for their NBD clients before a revert: ``adapters.cli.frontend_use``), and a
thread keeping the volume status view and history index current
(``projections.read_models.keep_current``); all stop when the block exits. Used by ``manager.cli``
around the control loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from adapters.cli.errors import CommandError
from adapters.cli.frontend_use import frontend_use
from adapters.rest.server import start_api
from domain.application import ControlPlane
from manager.jobs import JobScheduler
from projections import read_models


@contextmanager
def background_services(app: ControlPlane, api: tuple[str, int] | None, jobs: bool = True,
                        token: bytes | None = None) -> Iterator[str]:
    """Yields the API's URL ("" when not serving one); ``token``: see ``adapters.rest.access``."""
    with ExitStack() as stack:
        stop_read_models = threading.Event()
        keeper = threading.Thread(target=read_models.keep_current, args=(app, stop_read_models),
                                  name="pronghorn-read-models", daemon=True)
        keeper.start()
        stack.callback(keeper.join)
        stack.callback(stop_read_models.set)
        if jobs:
            scheduler = JobScheduler(app).start()
            stack.callback(scheduler.stop)
        url = ""
        if api is not None:
            host, port = api
            try:
                handle = start_api(app, host, port, frontend_use, token=token)
            except OSError as exc:
                raise CommandError(f"cannot serve the REST API on {host}:{port}: {exc.strerror or exc}") from None
            stack.callback(handle.stop)
            url = handle.url
        yield url
