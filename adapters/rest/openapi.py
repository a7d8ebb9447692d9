"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

Nothing here is written by hand twice: paths, parameters, request bodies and
replies come from ``adapters.rest.routes.Route`` entries, schemas from
``pydantic.TypeAdapter(...).json_schema`` (JSON Schema 2020-12, which OpenAPI 3.1
uses as is). Served at ``/openapi.json`` by ``adapters.rest.server``.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from adapters.rest.models import ErrorBody
from adapters.rest.routes import Route

REF = "#/components/schemas/{model}"
ERRORS = {
    HTTPStatus.BAD_REQUEST: "malformed JSON body (or nested deeper than 32 levels)",
    HTTPStatus.UNAUTHORIZED: "no or a wrong 'Authorization: Bearer TOKEN' (an API started with --api-token-file)",
    HTTPStatus.NOT_FOUND: "no such object (or route)",
    HTTPStatus.CONFLICT: "already exists, not allowed in the current state, scheduling failed, or concurrent change",
    HTTPStatus.LENGTH_REQUIRED: "a body without Content-Length (chunked)",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "body over 1 MiB",
    HTTPStatus.UNPROCESSABLE_ENTITY: "invalid value",
    HTTPStatus.SERVICE_UNAVAILABLE: "event store unavailable",
}


class _Schemas:
    """Collects component schemas while giving out references to them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, kind: Any, mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
        schema = TypeAdapter(kind).json_schema(ref_template=REF, mode=mode)
        self.components.update(schema.pop("$defs", {}))
        title = schema.get("title")
        if schema.get("type") == "object" and isinstance(title, str) and title == getattr(kind, "__name__", None):
            self.components[title] = schema
            return {"$ref": REF.format(model=title)}
        return schema


def openapi_document(routes: Iterable[Route], server_url: str = "http://127.0.0.1:9500",
                     title: str = "Pronghorn API", version: str = "1") -> dict[str, Any]:
    schemas = _Schemas()
    error = schemas.of(ErrorBody)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "responses": {
                str(int(route.status)): {
                    "description": route.status.phrase,
                    "content": {"application/json": {"schema": schemas.of(route.response)}},
                },
                **{str(int(status)): {"description": text, "content": {"application/json": {"schema": error}}}
                   for status, text in ERRORS.items()},
            },
        }
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in route.params]
        parameters += [{"name": q, "in": "query", "required": False, "description": text,
                        "schema": {"type": "string"}} for q, text in route.query.items()]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": route.body_required,
                                        "content": {"application/json": {"schema": schemas.of(route.body, "validation")}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document",
                                      "responses": {"200": {"description": "OK", "content": {
                                          "application/json": {"schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": server_url}],
        "paths": paths,
        "security": [{}, {"bearer": []}],  # none on loopback; a bearer token when started with one
        "components": {"schemas": dict(sorted(schemas.components.items())),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description":
                                                      "the token in the file given to --api-token-file"}}},
    }
