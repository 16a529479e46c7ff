"""``POST /api/v1/imports``: upload a file of hazard areas or evidence points (thin HTTP layer).

The logic (limits, formats, checks, all-or-nothing storage, idempotency) is in ``geo.imports``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from app.deps import DB, CurrentScope
from app.errors import Problem
from app.settings import get_settings
from geo.imports import ImportOptions, run_import

router = APIRouter(prefix="/api/v1", tags=["imports"])

IMPORTERS = ("admin", "coordinator", "surveyor")
MAPPING_EXAMPLE = '{"classification": "TYPE"}'


def _json_object(value: str | None, field: str, example: str) -> dict[str, Any] | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Problem(
            422, f"{field}: not JSON ({exc})", errors=[{"field": field, "message": "not JSON"}]
        ) from exc
    if not isinstance(parsed, dict) or not all(
        isinstance(v, str | int | float | bool) for v in parsed.values()
    ):
        raise Problem(
            422,
            f"{field}: give a JSON object, e.g. {example}",
            errors=[{"field": field, "message": "not a JSON object of plain values"}],
        )
    return parsed


@router.post(
    "/imports",
    status_code=201,
    responses={
        200: {"description": "dry run, or the same file already imported: the validation report"},
        201: {"description": "stored: the validation report with the import id"},
        422: {"description": "refused: problem+json with the validation report in 'report'"},
    },
)
def upload(
    db: DB,
    scope: CurrentScope,
    file: Annotated[
        UploadFile, File(description="GeoJSON, GeoPackage, zipped shapefile, KML/KMZ, GPX, CSV, XLSX")
    ],
    programme: Annotated[str, Form(description="programme code, e.g. SOM")],
    layer: Annotated[str, Form(description="hazard_areas or evidence_points")],
    crs: Annotated[
        str | None, Form(description="the file's CRS when it declares none, e.g. EPSG:32638")
    ] = None,
    mapping: Annotated[str | None, Form(description="JSON: target field → source column")] = None,
    defaults: Annotated[
        str | None,
        Form(description='JSON: field → value where the file has none, e.g. {"classification": "SHA"}'),
    ] = None,
    dry_run: Annotated[bool, Form()] = False,
    skip_invalid: Annotated[bool, Form()] = False,
) -> Response:
    """Check a file and store it all-or-nothing; the answer is the validation report."""
    principal = scope.principal
    if not principal.has_role(*IMPORTERS):
        raise Problem(403, f"Imports are made by {', '.join(IMPORTERS)}; you are {principal.role}.")
    target = scope.programme(db, programme)
    limit = get_settings().max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, f"The file is larger than the limit of {limit:,} bytes.")
    options = ImportOptions(
        filename=file.filename or "upload",
        layer=layer,
        crs=crs or None,
        mapping={k: str(v) for k, v in (_json_object(mapping, "mapping", MAPPING_EXAMPLE) or {}).items()}
        or None,
        defaults=_json_object(defaults, "defaults", '{"classification": "SHA"}'),
        dry_run=dry_run,
        skip_invalid=skip_invalid,
    )
    result = run_import(db, target, data, options, principal.username)
    if result.status == 422:
        db.rollback()
        counts: dict[str, Any] = result.report["counts"]
        rejected = [f for f in result.report["features"] if f["status"] == "rejected"]
        raise Problem(
            422,
            f"{counts['rejected']} of {counts['features']} features were rejected; nothing was stored.",
            title="Import refused",
            # The platform's usual per-feature errors (the first 1000), and the whole report.
            errors=[
                {"index": f["index"], "field": "feature", "message": "; ".join(f["messages"])}
                for f in rejected[:1000]
            ],
            report=result.report,
        )
    if result.committed:
        db.commit()
    else:
        db.rollback()
    return Response(
        orjson.dumps(result.report, option=orjson.OPT_SERIALIZE_NUMPY, default=str),
        status_code=result.status,
        media_type="application/json",
    )
