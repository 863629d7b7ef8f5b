"""The session pool's published control-plane spec (vendored) as a checker of bodies sent and answers read."""

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from components.pool_body import API_VERSION

SPECS = Path(__file__).resolve().parent / "vendor" / "azure-rest-api-specs" / "specification"
SESSION_POOLS = SPECS / f"app/resource-manager/Microsoft.App/ContainerApps/preview/{API_VERSION}/SessionPools.json"
POOL = f"{SESSION_POOLS.as_uri()}#/definitions/SessionPool"


def _retrieve(uri: str) -> Resource:
    path = Path(uri.removeprefix("file://"))
    return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4)


@cache
def _registry() -> Registry:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


def schema_errors(body: dict[str, Any]) -> list[str]:
    """What JSON Schema says of `body` against the spec's SessionPool: types, enums, required fields."""
    validator = jsonschema.Draft4Validator({"$ref": POOL}, registry=_registry())
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


def _properties(schema: dict[str, Any], resolver: Any) -> tuple[dict[str, tuple[dict, Any]], Any]:
    """Every property a schema lists, its allOf included, each with the resolver its own $refs resolve in."""
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        return _properties(resolved.contents, resolved.resolver)
    found = {name: (sub, resolver) for name, sub in schema.get("properties", {}).items()}
    for part in schema.get("allOf", []):
        inherited, _ = _properties(part, resolver)
        found = {**inherited, **found}
    extra = schema.get("additionalProperties")
    return found, (extra, resolver) if isinstance(extra, dict) else None


def _deref(schema: dict[str, Any], resolver: Any) -> tuple[dict[str, Any], Any]:
    while "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        schema, resolver = resolved.contents, resolved.resolver
    return schema, resolver


def unlisted(
    body: Any, *, request: bool, schema: dict[str, Any] | None = None, resolver: Any = None, at: str = ""
) -> list[str]:
    """Every property of `body` the spec does not list (it sets no additionalProperties: false, so JSON
    Schema alone would let a misspelt name through), and in a request every read-only one sent."""
    if schema is None:
        schema, resolver = {"$ref": POOL}, _registry().resolver()
    schema, resolver = _deref(schema, resolver)
    problems: list[str] = []
    if isinstance(body, dict):
        listed, extra = _properties(schema, resolver)
        for key, value in body.items():
            where = f"{at}.{key}" if at else key
            if key in listed:
                sub, sub_resolver = listed[key]
                if (request and _deref(sub, sub_resolver)[0].get("readOnly")) or (request and sub.get("readOnly")):
                    problems.append(f"{where} is read-only")
                problems += unlisted(value, request=request, schema=sub, resolver=sub_resolver, at=where)
            elif extra is not None:
                problems += unlisted(value, request=request, schema=extra[0], resolver=extra[1], at=where)
            else:
                problems.append(f"{where} is not in the {API_VERSION} spec")
    elif isinstance(body, list) and "items" in schema:
        for index, item in enumerate(body):
            problems += unlisted(item, request=request, schema=schema["items"], resolver=resolver, at=f"{at}[{index}]")
    return problems


def listed_path(*keys: str) -> bool:
    """Whether the spec's SessionPool lists the property at this path (what an output is read from)."""
    schema, resolver = {"$ref": POOL}, _registry().resolver()
    for key in keys:
        listed, _ = _properties(*_deref(schema, resolver))
        if key not in listed:
            return False
        schema, resolver = listed[key]
    return True
