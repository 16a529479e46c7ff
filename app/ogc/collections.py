"""The collections SafeGround publishes through OGC API Features/Tiles and exports.

One declarative entry per collection says where its rows come from and which properties a
client may see and filter on. Everything else (items, queryables, CQL2, tiles, exports, the
map) is generated from these entries, so publishing a new table is one entry here.

SQL in an entry is written by developers, never built from user input: the table is always
aliased ``t``; property expressions refer to ``t.<column>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STAFF_ROLES = ("admin", "coordinator", "surveyor", "qa_officer")

# JSON-schema-ish type names used by queryables, filters and exports.
PropertyType = str  # "string" | "integer" | "number" | "boolean" | "datetime" | "date" | "string[]"


@dataclass(frozen=True)
class Prop:
    """One published property of a collection."""

    name: str
    type: PropertyType = "string"
    description: str = ""
    # SQL expression over the row alias ``t``; default ``t.<name>``.
    sql: str | None = None
    enum: tuple[str, ...] | None = None
    queryable: bool = True
    # Carried in vector tiles (keep tiles small: only what the map styles, filters or pops up).
    in_tiles: bool = False

    @property
    def expr(self) -> str:
        return self.sql or f"t.{self.name}"


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    table: str  # table (or sub-select in parentheses) aliased as ``t``
    properties: tuple[Prop, ...]
    geometry_type: str = "MultiPolygon"
    geometry_column: str = "t.geom"
    id_column: str = "t.id"
    programme_column: str = "t.programme_id"
    datetime_column: str | None = None
    # Condition a row must meet to reach partners and anonymous readers (None: no approval step).
    approved_sql: str | None = None
    staff_roles: tuple[str, ...] = STAFF_ROLES
    # Link to the record in SafeGround's own API, for popups and HTML (``{id}`` is replaced).
    api_href: str | None = None
    keywords: tuple[str, ...] = field(default_factory=tuple)

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.properties if p.name == name), None)


# The programme's code, not its internal id, is what users and partners know. ``p`` is the
# programmes table, joined by the query builder.
PROGRAMME = Prop("programme", "string", "Programme code (e.g. SOM, LBY)", sql="p.code", in_tiles=True)

HAZARD_AREAS = Collection(
    id="hazard_areas",
    title="Hazard areas",
    description="Suspected (SHA) and confirmed (CHA) hazardous areas, with status and land release "
    "accounting in m² (geodesic). The geometry is the surveyed extent.",
    table="hazard_areas",
    datetime_column="t.created_at",
    approved_sql="t.review_status = 'approved'",
    api_href="/api/v1/hazard-areas/{id}",
    keywords=("mine action", "hazard", "SHA", "CHA", "IMSMA land"),
    properties=(
        Prop("reference", description="Hazard reference, e.g. SOM-HA-000123", in_tiles=True),
        PROGRAMME,
        Prop("name", description="Local name of the hazard area"),
        Prop(
            "classification",
            description="SHA (suspected) or CHA (confirmed)",
            enum=("SHA", "CHA"),
            in_tiles=True,
        ),
        Prop(
            "status",
            description="open, worked_on or closed",
            enum=("open", "worked_on", "closed"),
            in_tiles=True,
        ),
        Prop("status_date", "datetime", "When the status last changed"),
        Prop("status_reason", description="Why the status last changed"),
        Prop("contamination_types", "string[]", "AP, AT, MIXED, CMR, ERW, AXO, IED", in_tiles=True),
        Prop("information_source", description="Where the evidence came from"),
        Prop("reliability", description="Reliability of the information"),
        Prop("blockages", "string[]", "What the hazard blocks (roads, agriculture, water …)"),
        Prop("beneficiaries_women", "integer"),
        Prop("beneficiaries_men", "integer"),
        Prop("beneficiaries_girls", "integer"),
        Prop("beneficiaries_boys", "integer"),
        Prop("priority", "integer", "Priority (1 = highest)", in_tiles=True),
        Prop("notes", description="Free-text notes"),
        Prop("area_m2", "number", "Original area, m² (geodesic)", in_tiles=True),
        Prop("cancelled_m2", "number", "Area cancelled by non-technical survey, m²"),
        Prop("reduced_m2", "number", "Area reduced by technical survey, m²"),
        Prop("cleared_m2", "number", "Area cleared, m²"),
        Prop("remaining_m2", "number", "Area still hazardous, m²", in_tiles=True),
        Prop("admin1_code", description="Admin-1 code (ISO 3166-2 / P-code)"),
        Prop("admin1_name", description="Admin-1 name", in_tiles=True),
        Prop("admin2_code"),
        Prop("admin2_name"),
        Prop(
            "review_status",
            description="draft, submitted, approved or rejected",
            enum=("draft", "submitted", "approved", "rejected"),
            in_tiles=True,
        ),
        Prop("created_at", "datetime", "When the record was created", in_tiles=True),
        Prop("updated_at", "datetime", "When the record last changed"),
        Prop("version", "integer", "Record version (increases with every change)"),
    ),
)

ADMIN_AREAS = Collection(
    id="admin_areas",
    title="Administrative areas",
    description="Administrative boundaries (admin-1 from geoBoundaries, CC BY 4.0) used to place "
    "records and group summaries.",
    table="admin_areas",
    keywords=("boundaries", "admin1"),
    properties=(
        PROGRAMME,
        Prop("level", "integer", "Administrative level (1 = region/province)", in_tiles=True),
        Prop("name", description="Name", in_tiles=True),
        Prop("code", description="ISO 3166-2 or P-code", in_tiles=True),
        Prop("parent_code", description="Code of the parent area"),
    ),
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (HAZARD_AREAS, ADMIN_AREAS)}


def get(collection_id: str) -> Collection | None:
    return COLLECTIONS.get(collection_id)
