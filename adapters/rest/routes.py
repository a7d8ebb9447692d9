"""The route table's types: ``Route`` (method, path template, handler, models) and ``Call``.

A handler receives a ``Call`` (the application, path parameters, query, the parsed
body model) and returns a JSON-ready document; the route says which status to
answer with and which models describe the body and the reply, so that the server
(``adapters.rest.server``) and the OpenAPI document (``adapters.rest.openapi``)
are both driven by the same table. Handlers live in ``volume_routes`` and
``cluster_routes``; ``ROUTES`` below joins them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel

from adapters.blockdev.mount_records import mounts_of
from domain.application import ControlPlane
from domain.frontend_use import FrontendUse, Mounted
from domain.volume import Volume

FrontendProbe = Callable[[Volume], FrontendUse]


def mounts_on_this_host(volume: Volume) -> FrontendUse:
    """The volume's ``pronghorn volume mount`` mounts on this host (the engine not asked): the
    probe of a server started without a better one (``pronghorn api``; the manager passes its own)."""
    return FrontendUse(tuple(Mounted(r.path, r.client) for r in mounts_of(volume.endpoint)) if volume.endpoint else ())

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Call:
    app: ControlPlane
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None  # an instance of the route's body model, or None
    frontend_use: FrontendProbe = mounts_on_this_host  # who uses a volume (before a revert)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # template, e.g. /v1/volumes/{name}
    handler: Callable[[Call], Any]
    summary: str
    response: Any  # a type pydantic can describe: a model, list[Model], A | B
    status: HTTPStatus = HTTPStatus.OK
    body: type[BaseModel] | None = None
    query: Mapping[str, str] = field(default_factory=dict)  # optional query parameter -> description
    body_required: bool = True  # False: no body means the body model's defaults
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(self.path).replace(r"\{", "{")
                           .replace(r"\}", "}"))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def all_routes() -> list[Route]:
    from adapters.rest.cluster_routes import ROUTES as CLUSTER
    from adapters.rest.volume_routes import ROUTES as VOLUMES

    return [*VOLUMES, *CLUSTER]
