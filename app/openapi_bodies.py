"""Request bodies that handlers parse themselves, declared in the OpenAPI document.

Some handlers read their JSON by hand, so that every error names the feature and the field the
way an import's report does (hazard areas: a GeoJSON Feature and its JSON Merge Patch). FastAPI
then knows nothing of the body's shape; :func:`request_body` declares it from a pydantic model
(documentation only: the handler's own checks stay the rule), and :func:`install` adds those
models to the document's components, where partners' generated clients find them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from fastapi import FastAPI

_MODELS: dict[str, type[BaseModel]] = {}


def request_body(model: type[BaseModel], *media_types: str, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the request body, in each of ``media_types``."""
    _MODELS[model.__name__] = model
    reference = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": required,
            "content": {
                media_type: {"schema": reference} for media_type in media_types or ("application/json",)
            },
        }
    }


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` carry the models declared with :func:`request_body`."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema is not None
        spec = generate()
        if not cached:
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, model in _MODELS.items():
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[name] = schema
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
