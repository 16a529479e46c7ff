"""The task dossier: one printable HTML page for a team leaving for the field.

The map is made with folium, but folium links Leaflet, jQuery, Bootstrap and Font Awesome from
CDNs and loads OpenStreetMap tiles. Field offices often work without internet, so every script
and stylesheet is pointed at SafeGround's own ``/assets`` (npm packages) and the map has no tile
layer: the programme's admin areas are drawn as the backdrop instead. Map data is GeoJSON made
by PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import folium
from branca.element import Figure
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.deps import Scope
from tasks import service

# Local copies of what folium would fetch from CDNs (served from node_modules by app.main).
# Folium's Bootstrap-3 glyphicons and its marker-rotation CSS are left out: the dossier uses
# neither (markers are Leaflet circle markers).
ASSET_JS = [
    ("leaflet", "/assets/leaflet/dist/leaflet.js"),
    ("jquery", "/assets/jquery/dist/jquery.min.js"),
    ("bootstrap", "/assets/bootstrap/dist/js/bootstrap.bundle.min.js"),
    ("awesome_markers", "/assets/leaflet.awesome-markers/dist/leaflet.awesome-markers.js"),
]
ASSET_CSS = [
    ("leaflet_css", "/assets/leaflet/dist/leaflet.css"),
    ("bootstrap_css", "/assets/bootstrap/dist/css/bootstrap.min.css"),
    ("awesome_markers_font_css", "/assets/@fortawesome/fontawesome-free/css/all.min.css"),
    ("awesome_markers_css", "/assets/leaflet.awesome-markers/dist/leaflet.awesome-markers.css"),
]

# TN 07.11/01 symbology: fill by classification, outline by status.
FILL = {"CHA": "#FF0000", "SHA": "#F4A718"}
OUTLINE = {"open": ("#D00000", None), "worked_on": ("#F4A718", "6 4"), "closed": ("#2E9E00", None)}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _json(db: Session, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).scalar()


def _hazards(db: Session, task_id: int) -> dict[str, Any]:
    return _json(
        db,
        """
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
            json_build_object('type', 'Feature', 'id', h.id,
                'geometry', ST_AsGeoJSON(h.geom, 7)::json,
                'properties', json_build_object(
                    'reference', h.reference, 'name', h.name, 'classification', h.classification,
                    'status', h.status, 'contamination', array_to_string(h.contamination_types, ', '),
                    'area_m2', round(h.area_m2::numeric), 'remaining_m2', round(h.remaining_m2::numeric),
                    'admin1', h.admin1_name)) ORDER BY h.id), '[]'::json))
        FROM task_hazards th JOIN hazard_areas h ON h.id = th.hazard_area_id
        WHERE th.task_id = :task
        """,
        task=task_id,
    )


def _items(db: Session, task_id: int) -> dict[str, Any]:
    return _json(
        db,
        """
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
            json_build_object('type', 'Feature', 'id', e.id,
                'geometry', ST_AsGeoJSON(e.location, 7)::json,
                'properties', json_build_object(
                    'category', c.name, 'subcategory', c.subcategory, 'model', e.model,
                    'quantity', e.quantity, 'condition', e.condition, 'fuze', e.fuze,
                    'depth_cm', e.depth_cm, 'disposal_method', replace(e.disposal_method, '_', ' '),
                    'found_on', e.found_on, 'location', e.location_input)) ORDER BY e.id), '[]'::json))
        FROM eo_items e JOIN eo_catalogue c ON c.id = e.catalogue_id
        WHERE e.task_id = :task AND e.review_status <> 'rejected'
        """,
        task=task_id,
    )


def _evidence_points(db: Session, task_id: int) -> dict[str, Any] | None:
    """Evidence points of the task's hazard areas, when the survey package records them:
    points of a survey that reported on one of the hazards, or lying in or within 100 m of one.

    The tables belong to another package, so their presence is checked rather than assumed;
    without them the dossier simply has no evidence layer.
    """
    present = db.execute(
        text(
            "SELECT to_regclass('evidence_points') IS NOT NULL, to_regclass('survey_hazards') IS NOT NULL, "
            "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "        AND table_name = 'evidence_points' AND column_name = 'geom'), "
            "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "        AND table_name = 'evidence_points' AND column_name = 'survey_id')"
        )
    ).one()
    has_points, has_links, has_geom, has_survey = present
    if not (has_points and has_geom):
        return None
    by_survey = (
        "OR EXISTS (SELECT 1 FROM survey_hazards sh JOIN task_hazards th ON th.hazard_area_id = sh.hazard_area_id "
        "           WHERE th.task_id = :task AND sh.survey_id = ep.survey_id)"
        if has_links and has_survey
        else ""
    )
    return _json(
        db,
        f"""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
            json_build_object('type', 'Feature', 'id', ep.id,
                'geometry', ST_AsGeoJSON(ep.geom, 7)::json,
                'properties', to_jsonb(ep) - 'geom') ORDER BY ep.id), '[]'::json))
        FROM evidence_points ep
        WHERE EXISTS (
            SELECT 1 FROM task_hazards th JOIN hazard_areas h ON h.id = th.hazard_area_id
            WHERE th.task_id = :task AND ep.geom && ST_Expand(h.geom, 0.002)
              AND ST_DWithin(ep.geom::geography, h.geom::geography, 100))
        {by_survey}
        """,
        task=task_id,
    )


def _facts(db: Session, task_id: int) -> dict[str, Any]:
    row = db.execute(
        text(
            """
            WITH g AS (
                SELECT coalesce((SELECT ST_Union(ha.geom) FROM task_hazards th
                                 JOIN hazard_areas ha ON ha.id = th.hazard_area_id WHERE th.task_id = t.id),
                                t.point) AS geom, t.*
                FROM tasks t WHERE t.id = :task)
            SELECT g.reference, p.code AS programme_code, p.name AS programme_name, g.type, g.status,
                   g.priority, o.name AS organisation, tm.name AS team,
                   array_to_string(tm.capabilities, ', ') AS capabilities,
                   round(ST_Distance(tm.base_location::geography, g.geom::geography)::numeric / 1000, 1)
                       AS team_distance_km,
                   g.planned_start, g.planned_end, g.actual_start, g.actual_end, g.notes,
                   g.location_input, g.location_format, g.location_crs,
                   ST_Y(g.point) AS lat, ST_X(g.point) AS lon,
                   CASE WHEN ST_Dimension(g.geom) = 2 THEN ST_Area(g.geom::geography) END AS area_m2,
                   (SELECT sum(ha.remaining_m2) FROM task_hazards th JOIN hazard_areas ha
                      ON ha.id = th.hazard_area_id WHERE th.task_id = g.id) AS remaining_m2,
                   (SELECT string_agg(a.name || ' (' || a.code || ')', ', ' ORDER BY a.name)
                      FROM admin_areas a WHERE a.programme_id = g.programme_id AND a.level = 1
                       AND ST_Intersects(a.geom, g.geom)) AS admin_areas,
                   ST_XMin(g.geom) AS xmin, ST_YMin(g.geom) AS ymin,
                   ST_XMax(g.geom) AS xmax, ST_YMax(g.geom) AS ymax,
                   ST_AsGeoJSON(tm.base_location, 7)::json AS team_base, g.programme_id
            FROM g JOIN programmes p ON p.id = g.programme_id
            LEFT JOIN organisations o ON o.id = g.organisation_id
            LEFT JOIN teams tm ON tm.id = g.team_id
            """
        ),
        {"task": task_id},
    ).one()
    return dict(row._mapping)


def _admin_backdrop(db: Session, facts: dict[str, Any]) -> dict[str, Any]:
    """Admin-1 areas around the task, simplified: the map's backdrop in place of web tiles."""
    return _json(
        db,
        """
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
            json_build_object('type', 'Feature',
                'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, 0.005), 5)::json,
                'properties', json_build_object('name', a.name, 'code', a.code))), '[]'::json))
        FROM admin_areas a
        WHERE a.programme_id = :p AND a.level = 1
          AND ST_DWithin(a.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), 0.5)
        """,
        p=facts["programme_id"],
        x0=facts["xmin"],
        y0=facts["ymin"],
        x1=facts["xmax"],
        y1=facts["ymax"],
    )


def _items_by_category(db: Session, task_id: int) -> list[tuple[str, str, int]]:
    rows = db.execute(
        text(
            "SELECT c.name, c.report_group, sum(e.quantity) FROM eo_items e "
            "JOIN eo_catalogue c ON c.id = e.catalogue_id WHERE e.task_id = :task AND e.review_status <> 'rejected' "
            "GROUP BY c.name, c.report_group ORDER BY sum(e.quantity) DESC, c.name"
        ),
        {"task": task_id},
    ).all()
    return [(r[0], r[1], int(r[2])) for r in rows]


def _hazard_style(feature: dict[str, Any]) -> dict[str, Any]:
    props = feature["properties"]
    colour, dash = OUTLINE.get(props["status"], ("#D00000", None))
    return {
        "fillColor": FILL.get(props["classification"], "#999999"),
        "fillOpacity": 0.5,
        "color": colour,
        "dashArray": dash,
        "weight": 3,
        "className": "sg-hazard",
    }


def build_map(
    facts: dict[str, Any],
    backdrop: dict[str, Any],
    hazards: dict[str, Any],
    items: dict[str, Any],
    evidence: dict[str, Any] | None,
) -> folium.Map:
    m = folium.Map(tiles=None, height="460px", control_scale=True, zoom_start=12)
    # Instance attributes: the module-wide CDN lists stay untouched for anybody else.
    m.default_js = list(ASSET_JS)
    m.default_css = list(ASSET_CSS)
    folium.GeoJson(
        backdrop,
        name="Admin areas",
        style_function=lambda _: {
            "color": "#555555",
            "weight": 1,
            "fillColor": "#F2EFE9",
            "fillOpacity": 1,
            "className": "sg-admin",
        },
        tooltip=folium.GeoJsonTooltip(fields=["name", "code"]),
    ).add_to(m)
    if hazards["features"]:
        folium.GeoJson(
            hazards,
            name="Hazard areas",
            style_function=_hazard_style,
            tooltip=folium.GeoJsonTooltip(
                fields=["reference", "classification", "status", "contamination", "area_m2"],
                aliases=["Hazard", "Class", "Status", "Contamination", "Area m²"],
            ),
        ).add_to(m)
    if facts["lat"] is not None:
        folium.CircleMarker(
            [facts["lat"], facts["lon"]],
            radius=9,
            color="#000000",
            weight=3,
            fill_color="#FFD400",
            fill_opacity=0.9,
            class_name="sg-callout",
            tooltip=f"Call-out: {facts['location_input']}",
        ).add_to(m)
    if evidence and evidence["features"]:
        folium.GeoJson(
            evidence,
            name="Evidence points",
            marker=folium.CircleMarker(radius=5),
            style_function=lambda _: {
                "color": "#1F4E9E",
                "fillColor": "#6FA8FF",
                "fillOpacity": 0.9,
                "weight": 2,
                "className": "sg-evidence",
            },
        ).add_to(m)
    located = [f for f in items["features"] if f["geometry"] is not None]
    if located:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": located},
            name="Items found",
            marker=folium.CircleMarker(radius=6),
            style_function=lambda _: {
                "color": "#5A005A",
                "fillColor": "#C000C0",
                "fillOpacity": 0.9,
                "weight": 2,
                "className": "sg-item",
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["category", "quantity", "disposal_method"],
                aliases=["Item", "Quantity", "Disposal"],
            ),
        ).add_to(m)
    if facts["team_base"] is not None:
        lon, lat = facts["team_base"]["coordinates"]
        folium.CircleMarker(
            [lat, lon],
            radius=6,
            color="#005F73",
            fill_color="#0A9396",
            fill_opacity=0.9,
            class_name="sg-team",
            tooltip=f"Team base: {facts['team']}",
        ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if facts["xmin"] is not None:
        pad = 0.002
        m.fit_bounds([[facts["ymin"] - pad, facts["xmin"] - pad], [facts["ymax"] + pad, facts["xmax"] + pad]])
    return m


def render(db: Session, scope: Scope, task_id: int) -> str:
    task = service.get_task(db, scope, task_id)
    facts = _facts(db, task.id)
    hazards = _hazards(db, task.id)
    items = _items(db, task.id)
    evidence = _evidence_points(db, task.id)
    backdrop = _admin_backdrop(db, facts) if facts["xmin"] is not None else {"features": []}
    figure = build_map(facts, backdrop, hazards, items, evidence).get_root()
    assert isinstance(figure, Figure)
    figure.render()  # resolves the asset links into the header, the map into html and script
    return _templates.get_template("dossier.html").render(
        facts=facts,
        hazards=[f["properties"] for f in hazards["features"]],
        items=[f["properties"] for f in items["features"]],
        items_by_category=_items_by_category(db, task.id),
        evidence_count=len(evidence["features"]) if evidence else None,
        history=service.history(db, scope, task.id),
        map_head=figure.header.render(),
        map_html=figure.html.render(),
        map_script=figure.script.render(),
    )
