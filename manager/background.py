"""The manager's side services: the REST API and the recurring-job scheduler.

``background_services(app, api, jobs)`` starts the job scheduler (``manager.jobs``;
only on the leader, which makes the cluster-wide decisions — several schedulers on
one store would still fire each time once) and, when ``api`` is a (host, port), the
REST API (``adapters.rest.start_api``) on the manager's own application; both stop
when the block exits. Used by ``manager.cli``
around the control loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from adapters.cli.errors import CommandError
from adapters.rest.server import start_api
from domain.application import ControlPlane
from manager.jobs import JobScheduler


@contextmanager
def background_services(app: ControlPlane, api: tuple[str, int] | None, jobs: bool = True,
                        token: bytes | None = None) -> Iterator[str]:
    """Yields the API's URL ("" when not serving one); ``token``: see ``adapters.rest.access``."""
    with ExitStack() as stack:
        if jobs:
            scheduler = JobScheduler(app).start()
            stack.callback(scheduler.stop)
        url = ""
        if api is not None:
            host, port = api
            try:
                handle = start_api(app, host, port, token)
            except OSError as exc:
                raise CommandError(f"cannot serve the REST API on {host}:{port}: {exc.strerror or exc}") from None
            stack.callback(handle.stop)
            url = handle.url
        yield url
