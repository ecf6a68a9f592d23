"""The OpenAPI document, generated from the same marshmallow schemas that validate requests.

Routes declare themselves with `@documented(...)`; any blueprint (the domain's or a channel's)
may do so. `GET /api/v1/openapi.json` builds the document with apispec from that registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    tag: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    public: bool = False
    errors: tuple[int, ...] = ()


REGISTRY: list[Operation] = []


def documented(path: str, method: str, summary: str, tag: str, **kwargs: Any) -> Callable[[F], F]:
    """Record an operation for the OpenAPI document (the path in OpenAPI `{id}` form)."""
    op = Operation(path=path, method=method.lower(), summary=summary, tag=tag, **kwargs)
    if all((o.path, o.method) != (op.path, op.method) for o in REGISTRY):
        REGISTRY.append(op)

    def decorator(view: F) -> F:
        return view

    return decorator


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object",
                   "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}


def build_spec(title: str, version: str = "1.0.0") -> dict[str, Any]:
    spec = APISpec(title=title, version=version, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for op in sorted(REGISTRY, key=lambda o: (o.path, o.method)):
        operation: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": {}}
        if not op.public:
            operation["security"] = [{"bearer": []}]
        if op.query is not None:
            operation["parameters"] = [{"in": "query", "schema": op.query}]
        if op.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": op.body}}}
        ok: dict[str, Any] = {"description": "OK"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": op.response}}
        operation["responses"][str(op.status)] = ok
        codes = set(op.errors) | ({401, 403} if not op.public else set())
        if op.body is not None or op.query is not None:
            codes.add(422)
        for code in sorted(codes):
            operation["responses"][str(code)] = {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        params = [{"in": "path", "name": name.strip("{}"), "required": True,
                   "schema": {"type": "integer"}}
                  for name in op.path.split("/") if name.startswith("{")]
        spec.path(path=op.path, parameters=params or None, operations={op.method: operation})
    return spec.to_dict()
