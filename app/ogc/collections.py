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
    # Whether partner tokens and published (anonymous) layers may read it at all.
    partner_access: bool = True
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
    description="Administrative boundaries (admin-1 from geoBoundaries, derived from OpenStreetMap, ODbL 1.0) used to place "
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

ORGANISATION = Prop(
    "organisation",
    description="Organisation (acronym)",
    sql="(SELECT coalesce(o.acronym, o.name) FROM organisations o WHERE o.id = t.organisation_id)",
    in_tiles=True,
)

LAND_RELEASES = Collection(
    id="land_releases",
    title="Land releases",
    description="Land cancelled (non-technical survey), reduced (technical survey) or cleared, each "
    "inside the hazard it was released from (IMAS 07.11). Areas in geodesic m².",
    table="land_releases",
    datetime_column="t.release_date",
    approved_sql="t.review_status = 'approved'",
    api_href="/api/v1/land-releases/{id}",
    keywords=("land release", "cancelled", "reduced", "cleared"),
    properties=(
        Prop("reference", description="Release reference", in_tiles=True),
        PROGRAMME,
        Prop(
            "hazard_reference",
            description="The hazard area released from",
            in_tiles=True,
            sql="(SELECT h.reference FROM hazard_areas h WHERE h.id = t.hazard_area_id)",
        ),
        Prop(
            "method",
            description="cancelled, reduced or cleared",
            enum=("cancelled", "reduced", "cleared"),
            in_tiles=True,
        ),
        Prop(
            "activity",
            description="nts, ts, clearance or bac",
            enum=("nts", "ts", "clearance", "bac"),
            in_tiles=True,
        ),
        ORGANISATION,
        Prop("release_date", "date", "Date of release", in_tiles=True),
        Prop("depth_cm", "integer", "Clearance depth, cm"),
        Prop("area_m2", "number", "Released area, m² (geodesic)", in_tiles=True),
        Prop("review_status", enum=("draft", "submitted", "approved", "rejected"), in_tiles=True),
        Prop("notes"),
        Prop("created_at", "datetime"),
        Prop("version", "integer"),
    ),
)

TASKS = Collection(
    id="tasks",
    title="Tasks",
    description="Planned and running work: the hazard areas a task targets (their outline), or "
    "the point of an EOD spot task.",
    # A task's geometry: its EOD point, or the hazard areas it targets (collected, not unioned:
    # cheap enough to compute per request).
    table="(SELECT tk.*, COALESCE(ST_Multi(tk.point), hz.geom) AS geom FROM tasks tk "
    "LEFT JOIN LATERAL (SELECT ST_CollectionExtract(ST_Collect(h.geom), 3) AS geom FROM task_hazards th "
    "JOIN hazard_areas h ON h.id = th.hazard_area_id WHERE th.task_id = tk.id) hz ON true)",
    geometry_type="Geometry",
    datetime_column="t.created_at",
    api_href="/api/v1/tasks/{id}",
    keywords=("task", "planning"),
    properties=(
        Prop("reference", description="Task reference", in_tiles=True),
        PROGRAMME,
        Prop(
            "type",
            description="nts, ts, clearance, bac, eod_spot or qa",
            enum=("nts", "ts", "clearance", "bac", "eod_spot", "qa"),
            in_tiles=True,
        ),
        Prop(
            "status",
            description="planned, assigned, in_progress, suspended, completed or cancelled",
            enum=("planned", "assigned", "in_progress", "suspended", "completed", "cancelled"),
            in_tiles=True,
        ),
        Prop("priority", "integer", "1 = most urgent … 5", in_tiles=True),
        ORGANISATION,
        Prop("team", description="Team", sql="(SELECT tm.name FROM teams tm WHERE tm.id = t.team_id)"),
        Prop(
            "hazard_references",
            "string[]",
            "Hazard areas the task targets",
            in_tiles=True,
            sql="ARRAY(SELECT h.reference FROM task_hazards th JOIN hazard_areas h ON h.id = th.hazard_area_id "
            "WHERE th.task_id = t.id ORDER BY h.reference)",
        ),
        Prop("planned_start", "date", in_tiles=True),
        Prop("planned_end", "date"),
        Prop("actual_start", "date"),
        Prop("actual_end", "date"),
        Prop("notes"),
        Prop("created_at", "datetime"),
        Prop("version", "integer"),
    ),
)

EO_ITEMS = Collection(
    id="eo_items",
    title="Explosive ordnance items",
    description="Explosive ordnance found and how it was disposed of. Partners see approved "
    "items of completed tasks only.",
    table="eo_items",
    geometry_type="Point",
    geometry_column="t.location",
    datetime_column="t.found_on",
    approved_sql="t.review_status = 'approved' "
    "AND EXISTS (SELECT 1 FROM tasks tk WHERE tk.id = t.task_id AND tk.status = 'completed')",
    keywords=("EOD", "UXO", "mines destroyed"),
    properties=(
        PROGRAMME,
        Prop(
            "task_reference",
            description="Task that found it",
            in_tiles=True,
            sql="(SELECT tk.reference FROM tasks tk WHERE tk.id = t.task_id)",
        ),
        Prop(
            "category",
            description="Catalogue category",
            in_tiles=True,
            sql="(SELECT c.category FROM eo_catalogue c WHERE c.id = t.catalogue_id)",
        ),
        Prop(
            "item",
            description="Catalogue name",
            in_tiles=True,
            sql="(SELECT c.name FROM eo_catalogue c WHERE c.id = t.catalogue_id)",
        ),
        Prop("model", description="Model, if known"),
        Prop("quantity", "integer", in_tiles=True),
        Prop("condition"),
        Prop("fuze"),
        Prop("depth_cm", "integer"),
        Prop(
            "disposal_method",
            enum=("destroyed_in_situ", "removed_and_destroyed", "rendered_safe", "handed_over"),
            in_tiles=True,
        ),
        Prop("found_on", "date", in_tiles=True),
        Prop("notes"),
    ),
)

QA_VISITS = Collection(
    id="qa_visits",
    title="QA/QC visits",
    description="Accreditation, monitoring visits of worksites (QA) and post-clearance inspections "
    "(QC), with their result. Staff only.",
    table="qa_visits",
    geometry_type="Geometry",
    geometry_column="t.location",
    datetime_column="t.visit_date",
    staff_roles=("admin", "coordinator", "qa_officer"),
    partner_access=False,
    keywords=("QA", "QC", "IMAS 07.40"),
    properties=(
        Prop("reference", in_tiles=True),
        PROGRAMME,
        Prop("type", enum=("accreditation", "monitoring", "post_clearance_inspection"), in_tiles=True),
        Prop(
            "task_reference", sql="(SELECT tk.reference FROM tasks tk WHERE tk.id = t.task_id)", in_tiles=True
        ),
        ORGANISATION,
        Prop("inspector"),
        Prop("visit_date", "date", in_tiles=True),
        Prop("result", enum=("pass", "pass_with_findings", "fail"), in_tiles=True),
        Prop("lot_accepted", "boolean"),
        Prop("notes"),
    ),
)

EVIDENCE_POINTS = Collection(
    id="evidence_points",
    title="Evidence points",
    description="Evidence recorded by non-technical survey (direct: mine seen, accident, marking … "
    "indirect: craters, scrap, hearsay …). Partners see points of approved surveys only.",
    table="evidence_points",
    geometry_type="Point",
    datetime_column="t.created_at",
    approved_sql="EXISTS (SELECT 1 FROM surveys s WHERE s.id = t.survey_id AND s.review_status = 'approved')",
    keywords=("NTS", "evidence"),
    properties=(
        PROGRAMME,
        Prop(
            "survey_reference",
            sql="(SELECT s.reference FROM surveys s WHERE s.id = t.survey_id)",
            in_tiles=True,
        ),
        Prop("evidence_type", in_tiles=True),
        Prop("direct", "boolean", "Direct evidence (true) or indirect (false)", in_tiles=True),
        Prop("description"),
        Prop("precision_m", "number"),
        Prop("created_at", "datetime"),
    ),
)

COLLECTIONS: dict[str, Collection] = {
    c.id: c for c in (HAZARD_AREAS, LAND_RELEASES, TASKS, EO_ITEMS, QA_VISITS, EVIDENCE_POINTS, ADMIN_AREAS)
}


def get(collection_id: str) -> Collection | None:
    return COLLECTIONS.get(collection_id)
