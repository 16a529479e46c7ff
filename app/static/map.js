// The operations map: MapLibre GL JS on SafeGround's own vector tiles (OGC API – Tiles).
// Nothing here loads from another host: no basemap, no glyphs, no sprites. Admin boundaries
// are the base layer. Symbology follows TN 07.11/01 (see docs/map.md).
(function () {
  'use strict';

  const container = document.getElementById('operations-map');
  const available = new Set((container.dataset.layers || '').split(',').filter(Boolean));
  const canPlan = container.dataset.canPlan === 'true';

  const TN = {
    cha: '#FF0000',
    sha: '#F4A718',
    open: '#FF0000',
    workedOn: '#F4A718',
    closed: '#33A02C',
    cancelled: '#A6DBA0',
    reduced: '#4393C3',
    cleared: '#1B7837',
    task: '#6A3D9A',
  };

  // Layer groups: what the toggles switch, and which collection each group draws.
  const GROUPS = [
    { id: 'admin_areas', title: 'Admin boundaries', layers: ['admin-fill', 'admin-line'] },
    { id: 'land_releases', title: 'Land released', layers: ['release-fill'] },
    {
      id: 'hazard_areas',
      title: 'Hazard areas',
      layers: ['hazard-fill', 'hazard-open', 'hazard-worked-on', 'hazard-closed', 'hazard-selected'],
    },
    { id: 'tasks', title: 'Tasks', layers: ['task-line', 'task-point'] },
    { id: 'evidence_points', title: 'Evidence points', layers: ['evidence'] },
    { id: 'eo_items', title: 'Explosive items found', layers: ['eo-items'] },
    { id: 'qa_visits', title: 'QA/QC visits', layers: ['qa-visits'] },
  ].filter((g) => available.has(g.id));

  function tilesUrl(collection) {
    return '/ogc/collections/' + collection + '/tiles/WebMercatorQuad';
  }

  function layerDefs() {
    const src = (id, layer) => ({ source: id, 'source-layer': id, ...layer });
    const defs = {
      admin_areas: [
        src('admin_areas', { id: 'admin-fill', type: 'fill', paint: { 'fill-color': '#F3F1EA', 'fill-opacity': 1 } }),
        src('admin_areas', { id: 'admin-line', type: 'line', paint: { 'line-color': '#8A939B', 'line-width': 1 } }),
      ],
      land_releases: [
        src('land_releases', {
          id: 'release-fill',
          type: 'fill',
          paint: {
            'fill-color': ['match', ['get', 'method'], 'cancelled', TN.cancelled, 'reduced', TN.reduced, 'cleared', TN.cleared, '#888'],
            'fill-opacity': 0.7,
          },
        }),
      ],
      hazard_areas: [
        src('hazard_areas', {
          id: 'hazard-fill',
          type: 'fill',
          paint: {
            'fill-color': ['match', ['get', 'classification'], 'CHA', TN.cha, 'SHA', TN.sha, '#999999'],
            'fill-opacity': 0.5,
          },
        }),
        src('hazard_areas', {
          id: 'hazard-open', type: 'line', filter: ['==', ['get', 'status'], 'open'],
          paint: { 'line-color': TN.open, 'line-width': 2 },
        }),
        src('hazard_areas', {
          id: 'hazard-worked-on', type: 'line', filter: ['==', ['get', 'status'], 'worked_on'],
          paint: { 'line-color': TN.workedOn, 'line-width': 2, 'line-dasharray': [2, 1.5] },
        }),
        src('hazard_areas', {
          id: 'hazard-closed', type: 'line', filter: ['==', ['get', 'status'], 'closed'],
          paint: { 'line-color': TN.closed, 'line-width': 2 },
        }),
        src('hazard_areas', {
          id: 'hazard-selected', type: 'line', filter: ['in', ['id'], ['literal', []]],
          paint: { 'line-color': '#1F3FFF', 'line-width': 4 },
        }),
      ],
      tasks: [
        src('tasks', {
          id: 'task-line', type: 'line', filter: ['!=', ['geometry-type'], 'Point'],
          paint: { 'line-color': TN.task, 'line-width': 2, 'line-dasharray': [1, 1], 'line-offset': -2 },
        }),
        src('tasks', {
          id: 'task-point', type: 'circle', filter: ['==', ['geometry-type'], 'Point'],
          paint: { 'circle-color': TN.task, 'circle-radius': 6, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
        }),
      ],
      evidence_points: [
        src('evidence_points', {
          id: 'evidence', type: 'circle',
          paint: {
            'circle-color': ['case', ['to-boolean', ['get', 'direct']], '#E31A1C', '#FDBF6F'],
            'circle-radius': 4, 'circle-stroke-color': '#333', 'circle-stroke-width': 1,
          },
        }),
      ],
      eo_items: [
        src('eo_items', {
          id: 'eo-items', type: 'circle',
          paint: { 'circle-color': '#000', 'circle-radius': 3.5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
        }),
      ],
      qa_visits: [
        src('qa_visits', {
          id: 'qa-visits', type: 'circle', filter: ['==', ['geometry-type'], 'Point'],
          paint: {
            'circle-color': ['match', ['get', 'result'], 'pass', '#33A02C', 'fail', '#E31A1C', '#F4A718'],
            'circle-radius': 5, 'circle-stroke-color': '#000', 'circle-stroke-width': 1,
          },
        }),
      ],
    };
    return defs;
  }

  async function tileJson(collection) {
    const response = await window.safeground.api(tilesUrl(collection));
    if (!response.ok) throw new Error('tiles of ' + collection + ': HTTP ' + response.status);
    return response.json();
  }

  async function start() {
    const docs = {};
    await Promise.all(GROUPS.map(async (g) => { docs[g.id] = await tileJson(g.id); }));
    const sources = {};
    for (const g of GROUPS) {
      sources[g.id] = { type: 'vector', tiles: docs[g.id].tiles, minzoom: 0, maxzoom: 22, bounds: docs[g.id].bounds };
    }
    const defs = layerDefs();
    const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#D8E2EA' } }];
    for (const g of GROUPS) layers.push(...defs[g.id]);

    const hazardBounds = docs.hazard_areas && docs.hazard_areas.bounds;
    const adminBounds = docs.admin_areas && docs.admin_areas.bounds;
    const bounds = hazardBounds && hazardBounds[0] > -180 ? hazardBounds : adminBounds || [-20, -35, 55, 38];

    const map = new maplibregl.Map({
      container,
      // Only SafeGround's own URLs: no glyphs or sprite (no text labels), no external basemap.
      style: { version: 8, sources, layers },
      bounds,
      fitBoundsOptions: { padding: 40, maxZoom: 14 },
      attributionControl: { compact: true, customAttribution: 'Boundaries: geoBoundaries, © OpenStreetMap contributors (ODbL 1.0)' },
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
    window.map = map;
    map.on('load', () => {
      buildToggles(map);
      wireFilters(map);
      wireClicks(map);
      if (canPlan) wirePlanning(map);
    });
  }

  // --- layer toggles ----------------------------------------------------------------------
  function buildToggles(map) {
    const box = document.getElementById('layer-toggles');
    for (const g of GROUPS) {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = true;
      input.dataset.group = g.id;
      input.addEventListener('change', () => {
        for (const id of g.layers) map.setLayoutProperty(id, 'visibility', input.checked ? 'visible' : 'none');
      });
      label.append(input, ' ' + g.title);
      box.append(label);
    }
  }

  // --- filters ----------------------------------------------------------------------------
  const BASE_FILTERS = {};

  function checked(selector) {
    return Array.from(document.querySelectorAll(selector)).filter((i) => i.checked).map((i) => i.value);
  }

  function dateRange(property) {
    const from = document.getElementById('filter-from').value;
    const to = document.getElementById('filter-to').value;
    const parts = [];
    // Dates travel in tiles as YYYY-MM-DD text, which compares in date order.
    if (from) parts.push(['>=', ['coalesce', ['get', property], ''], from]);
    if (to) parts.push(['<=', ['coalesce', ['get', property], '9999'], to]);
    return parts;
  }

  function applyFilters(map) {
    const programme = document.getElementById('filter-programme').value;
    const byProgramme = programme ? [['==', ['get', 'programme'], programme]] : [];
    const hazard = [
      ...byProgramme,
      ['in', ['get', 'status'], ['literal', checked('.filter-status')]],
      ['in', ['get', 'classification'], ['literal', checked('.filter-classification')]],
      ...dateRange('created_at'),
    ];
    const taskStatus = document.getElementById('filter-task-status').value;
    const perLayer = {
      'hazard-fill': hazard, 'hazard-open': hazard, 'hazard-worked-on': hazard, 'hazard-closed': hazard,
      'release-fill': [...byProgramme, ...dateRange('release_date')],
      'task-line': [...byProgramme, ...(taskStatus ? [['==', ['get', 'status'], taskStatus]] : []), ...dateRange('planned_start')],
      'task-point': [...byProgramme, ...(taskStatus ? [['==', ['get', 'status'], taskStatus]] : []), ...dateRange('planned_start')],
      'evidence': byProgramme, 'eo-items': [...byProgramme, ...dateRange('found_on')],
      'qa-visits': [...byProgramme, ...dateRange('visit_date')], 'admin-fill': byProgramme, 'admin-line': byProgramme,
    };
    for (const [id, parts] of Object.entries(perLayer)) {
      if (!map.getLayer(id)) continue;
      if (!(id in BASE_FILTERS)) BASE_FILTERS[id] = map.getFilter(id) || null;
      const all = [...(BASE_FILTERS[id] ? [BASE_FILTERS[id]] : []), ...parts];
      map.setFilter(id, all.length ? ['all', ...all] : null);
    }
  }

  function wireFilters(map) {
    document.querySelectorAll('#filter-programme, .filter-status, .filter-classification, #filter-task-status, #filter-from, #filter-to')
      .forEach((el) => el.addEventListener('change', () => applyFilters(map)));
  }

  // --- popups -----------------------------------------------------------------------------
  const POPUP_LAYERS = {
    'hazard-fill': { collection: 'hazard_areas', api: '/api/v1/hazard-areas/',
      fields: ['reference', 'classification', 'status', 'contamination_types', 'remaining_m2', 'area_m2', 'admin1_name', 'review_status', 'programme'] },
    'release-fill': { collection: 'land_releases', api: '/api/v1/land-releases/',
      fields: ['reference', 'method', 'hazard_reference', 'organisation', 'release_date', 'area_m2', 'review_status'] },
    'task-line': { collection: 'tasks', api: '/api/v1/tasks/', fields: ['reference', 'type', 'status', 'priority', 'organisation', 'planned_start', 'hazard_references'] },
    'task-point': { collection: 'tasks', api: '/api/v1/tasks/', fields: ['reference', 'type', 'status', 'priority', 'organisation', 'planned_start'] },
    'evidence': { collection: 'evidence_points', fields: ['evidence_type', 'direct', 'survey_reference'] },
    'eo-items': { collection: 'eo_items', fields: ['item', 'category', 'quantity', 'disposal_method', 'found_on', 'task_reference'] },
    'qa-visits': { collection: 'qa_visits', fields: ['reference', 'type', 'result', 'visit_date', 'task_reference'] },
  };

  function formatValue(name, value) {
    if (value === undefined || value === null || value === '') return '—';
    if (name.endsWith('_m2') && typeof value === 'number') {
      return Math.round(value).toLocaleString('en') + ' m² (' + (value / 10000).toFixed(2) + ' ha)';
    }
    return String(value);
  }

  function popupContent(layerId, feature) {
    const spec = POPUP_LAYERS[layerId];
    const root = document.createElement('div');
    const table = document.createElement('table');
    table.className = 'popup-table';
    for (const name of spec.fields) {
      const row = table.insertRow();
      row.insertCell().textContent = name.replace(/_/g, ' ');
      row.insertCell().textContent = formatValue(name, feature.properties[name]);
    }
    root.append(table);
    const links = document.createElement('div');
    const ogc = document.createElement('a');
    ogc.href = '/ogc/collections/' + spec.collection + '/items/' + feature.id + '?f=html';
    ogc.textContent = 'Details';
    links.append(ogc);
    if (spec.api) {
      const api = document.createElement('a');
      api.href = spec.api + feature.id;
      api.textContent = 'API record';
      links.append(' · ', api);
    }
    root.append(links);
    return root;
  }

  function wireClicks(map) {
    const clickable = Object.keys(POPUP_LAYERS).filter((id) => map.getLayer(id));
    for (const id of clickable) {
      map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
      map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
    }
    map.on('click', (event) => {
      if (selecting()) return;
      // Points above polygons, hazards above releases: the first hit is the most specific.
      const order = ['eo-items', 'evidence', 'qa-visits', 'task-point', 'hazard-fill', 'task-line', 'release-fill'];
      const hits = map.queryRenderedFeatures(event.point, { layers: order.filter((id) => map.getLayer(id)) });
      if (!hits.length) return;
      hits.sort((a, b) => order.indexOf(a.layer.id) - order.indexOf(b.layer.id));
      new maplibregl.Popup({ maxWidth: '22rem' })
        .setLngLat(event.lngLat)
        .setDOMContent(popupContent(hits[0].layer.id, hits[0]))
        .addTo(map);
    });
  }

  // --- planning: select hazards, create a task -----------------------------------------------
  const selection = new Map(); // hazard id -> {reference, programme}

  function selecting() {
    const box = document.getElementById('select-mode');
    return Boolean(box && box.checked);
  }

  function renderSelection(map) {
    const list = document.getElementById('selection-list');
    list.replaceChildren();
    for (const [, info] of selection) {
      const item = document.createElement('li');
      item.textContent = info.reference + ' (' + info.programme + ')';
      list.append(item);
    }
    map.setFilter('hazard-selected', ['in', ['id'], ['literal', Array.from(selection.keys())]]);
    document.getElementById('plan-create').disabled = selection.size === 0;
  }

  async function loadOrganisations(programme) {
    const select = document.getElementById('plan-organisation');
    select.replaceChildren(new Option('(later)', ''));
    if (!programme) return;
    const response = await window.safeground.api('/api/v1/organisations?programme=' + encodeURIComponent(programme));
    if (!response.ok) return;
    for (const org of await response.json()) select.append(new Option(org.acronym || org.name, org.id));
  }

  function message(text, isError) {
    const box = document.getElementById('plan-message');
    box.textContent = text;
    box.className = isError ? 'error' : '';
  }

  function wirePlanning(map) {
    let programme = null;
    map.on('click', 'hazard-fill', (event) => {
      if (!selecting()) return;
      const feature = event.features[0];
      if (selection.has(feature.id)) {
        selection.delete(feature.id);
      } else {
        if (selection.size && feature.properties.programme !== programme) {
          message('A task belongs to one programme: select hazards of ' + programme + ' only.', true);
          return;
        }
        selection.set(feature.id, { reference: feature.properties.reference, programme: feature.properties.programme });
      }
      const next = selection.size ? Array.from(selection.values())[0].programme : null;
      if (next !== programme) { programme = next; loadOrganisations(programme); }
      message('', false);
      renderSelection(map);
    });
    document.getElementById('plan-clear').addEventListener('click', () => {
      selection.clear(); programme = null; renderSelection(map); message('', false);
    });
    document.getElementById('plan-create').addEventListener('click', async () => {
      const value = (id) => document.getElementById(id).value;
      const body = {
        programme,
        type: value('plan-type'),
        hazard_area_ids: Array.from(selection.keys()),
        priority: Number(value('plan-priority') || 3),
      };
      if (value('plan-organisation')) body.organisation_id = Number(value('plan-organisation'));
      if (value('plan-start')) body.planned_start = value('plan-start');
      if (value('plan-end')) body.planned_end = value('plan-end');
      if (value('plan-notes')) body.notes = value('plan-notes');
      const response = await window.safeground.api('/api/v1/tasks', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      const result = await response.json().catch(() => ({}));
      if (!response.ok) {
        message('Not created: ' + (result.detail || response.status), true);
        return;
      }
      const reference = (result.properties && result.properties.reference) || result.reference || 'task';
      message('Created ' + reference + ' for ' + selection.size + ' hazard area(s).', false);
      selection.clear();
      renderSelection(map);
      refreshTasks(map);
    });
  }

  function refreshTasks(map) {
    const source = map.getSource('tasks');
    if (!source) return;
    // A version parameter makes the browser fetch the tiles again.
    const tiles = source.tiles.map((url) => url.split('?')[0] + '?v=' + Date.now());
    source.setTiles(tiles);
  }

  start().catch((error) => {
    container.textContent = 'The map could not load: ' + error.message;
  });
})();
