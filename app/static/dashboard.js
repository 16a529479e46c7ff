// The land-release dashboard (/dashboard): figures, charts and a choropleth of remaining area
// by admin-1, all from SafeGround's own API (clearance/reports). Chart.js is served by
// SafeGround under /assets; the map is an SVG drawn here from the admin-area GeoJSON, so the
// page needs no tiles and no network beyond the app.
(function () {
  const root = document.getElementById('dashboard');
  const form = document.getElementById('filters');
  const errorBox = document.getElementById('error');
  const charts = {};
  const METHODS = [
    ['cancelled_m2', 'Cancelled', '#7fc97f'],
    ['reduced_m2', 'Reduced', '#4dabcf'],
    ['cleared_m2', 'Cleared', '#1f6fb2'],
    ['bac_m2', 'Battle area clearance', '#a6761d'],
  ];
  const ITEMS = [
    ['ap_mines', 'AP mines', '#b3261e'],
    ['at_mines', 'AT mines', '#e07b39'],
    ['submunitions', 'Submunitions', '#7b3294'],
    ['other_uxo', 'Other UXO', '#636363'],
    ['ied', 'IED', '#000000'],
    ['small_arms_ammunition', 'Small-arms ammunition', '#bdbdbd'],
  ];
  const CLASSES = ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'];

  const m2 = (v) => Math.round(v).toLocaleString('en-US');
  const n = (v) => Number(v).toLocaleString('en-US');

  function query() {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const [key, value] of data.entries()) if (value) params.set(key, value);
    return params;
  }

  async function getJSON(url) {
    const response = await window.safeground.api(url);
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return response.json();
  }

  function card(key, label, text, value) {
    return `<div class="card" id="card-${key}" data-value="${value}"><div class="label">${label}</div>` +
      `<div class="value">${text}</div></div>`;
  }

  function showCards(t) {
    const items = Object.values(t.items_destroyed).reduce((a, b) => a + b, 0);
    document.getElementById('cards').innerHTML = [
      card('released_m2', 'Released m²', m2(t.released_m2), t.released_m2),
      card('cancelled_m2', 'Cancelled m²', m2(t.cancelled_m2), t.cancelled_m2),
      card('reduced_m2', 'Reduced m²', m2(t.reduced_m2), t.reduced_m2),
      card('cleared_m2', 'Cleared m²', m2(t.cleared_m2), t.cleared_m2),
      card('bac_m2', 'BAC m²', m2(t.bac_m2), t.bac_m2),
      card('remaining_sha_m2', 'Remaining SHA m²', m2(t.remaining_sha_m2), t.remaining_sha_m2),
      card('remaining_cha_m2', 'Remaining CHA m²', m2(t.remaining_cha_m2), t.remaining_cha_m2),
      card('hazards', 'Hazard areas open / worked on / closed',
        `${n(t.hazards_open)} / ${n(t.hazards_worked_on)} / ${n(t.hazards_closed)}`,
        `${t.hazards_open}/${t.hazards_worked_on}/${t.hazards_closed}`),
      card('items', 'Items destroyed', n(items), items),
      card('tasks_completed', 'Tasks completed', n(t.tasks_completed), t.tasks_completed),
      card('qa', 'QA visits (pass rate)',
        `${n(t.qa_visits)} (${t.qa_pass_rate === null ? '–' : Math.round(t.qa_pass_rate * 100) + ' %'})`,
        t.qa_visits),
      card('beneficiaries', 'Beneficiaries (W/M/G/B)',
        `${n(t.beneficiaries.total)}`,
        `${t.beneficiaries.women}/${t.beneficiaries.men}/${t.beneficiaries.girls}/${t.beneficiaries.boys}`),
    ].join('');
  }

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options);
    charts[id] = new window.Chart(document.getElementById(id), config);
  }

  function showSeries(series) {
    const labels = series.months.map((m) => m.month);
    chart('released-chart', {
      type: 'bar',
      data: {
        labels,
        datasets: METHODS.map(([key, label, color]) => ({
          label, backgroundColor: color, data: series.months.map((m) => m[key]),
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    chart('burndown-chart', {
      type: 'line',
      data: {
        labels,
        datasets: [
          { label: 'Remaining (all)', borderColor: '#1d2630', data: series.months.map((m) => m.remaining_m2) },
          { label: 'SHA', borderColor: '#F4A718', data: series.months.map((m) => m.remaining_sha_m2) },
          { label: 'CHA', borderColor: '#FF0000', data: series.months.map((m) => m.remaining_cha_m2) },
        ],
      },
    });
    chart('items-chart', {
      type: 'bar',
      data: {
        labels,
        datasets: ITEMS.map(([key, label, color]) => ({
          label, backgroundColor: color, data: series.months.map((m) => m.items_destroyed[key]),
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    const f = series.forecast;
    const box = document.getElementById('forecast');
    if (!f) {
      box.textContent = 'No forecast: remaining area has no organisation.';
    } else {
      box.innerHTML = `<strong>Forecast completion: <span id="forecast-date">${f.completion_date || 'not possible'}</span></strong>` +
        ` (${f.months_to_completion === null ? '–' : f.months_to_completion + ' months'} at ${m2(f.monthly_rate_m2)} m²/month).` +
        ` <em>${f.assumption}</em>`;
    }
  }

  function showAdminTable(rows) {
    const head = '<tr><th>Admin-1</th><th>Released m²</th><th>Cleared m²</th><th>BAC m²</th>' +
      '<th>Remaining SHA m²</th><th>Remaining CHA m²</th><th>Items destroyed</th></tr>';
    const body = rows.map((r) => {
      const items = Object.values(r.items_destroyed).reduce((a, b) => a + b, 0);
      return `<tr data-code="${r.admin1_code || ''}"><td>${r.admin1_name || '(no admin area)'}</td>` +
        `<td>${m2(r.released_m2)}</td><td>${m2(r.cleared_m2)}</td><td>${m2(r.bac_m2)}</td>` +
        `<td>${m2(r.remaining_sha_m2)}</td><td>${m2(r.remaining_cha_m2)}</td><td>${n(items)}</td></tr>`;
    }).join('');
    document.getElementById('admin-table').innerHTML = head + body;
  }

  function rings(geometry) {
    if (geometry.type === 'Polygon') return geometry.coordinates;
    if (geometry.type === 'MultiPolygon') return geometry.coordinates.flat();
    return [];
  }

  function showMap(areas, rows) {
    const remaining = {};
    for (const r of rows) {
      if (r.admin1_code) remaining[r.admin1_code] = r.remaining_sha_m2 + r.remaining_cha_m2;
    }
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const f of areas.features) {
      for (const ring of rings(f.geometry)) {
        for (const [x, y] of ring) {
          minX = Math.min(minX, x); maxX = Math.max(maxX, x);
          minY = Math.min(minY, y); maxY = Math.max(maxY, y);
        }
      }
    }
    // Equirectangular, scaled at the mid latitude: good enough for one country.
    const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
    const width = (maxX - minX) * k;
    const height = maxY - minY;
    const max = Math.max(0, ...Object.values(remaining));
    const colour = (v) => (!v ? '#eeeeee' : CLASSES[Math.min(CLASSES.length - 1, Math.floor((v / max) * CLASSES.length))]);
    const paths = areas.features.map((f) => {
      const d = rings(f.geometry).map((ring) => 'M' + ring.map(([x, y]) =>
        `${((x - minX) * k).toFixed(4)},${(maxY - y).toFixed(4)}`).join('L') + 'Z').join('');
      const v = remaining[f.properties.code] || 0;
      return `<path d="${d}" fill="${colour(v)}" data-code="${f.properties.code}" data-remaining="${v}">` +
        `<title>${f.properties.name}: ${m2(v)} m² remaining</title></path>`;
    }).join('');
    document.getElementById('choropleth').innerHTML = areas.features.length
      ? `<svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMidYMid meet" role="img" ` +
        `aria-label="Remaining area by admin-1">${paths}</svg>`
      : '<p>No admin areas for this programme.</p>';
    document.getElementById('legend').innerHTML = '<span>0</span><span class="swatch" style="background:#eeeeee"></span>' +
      CLASSES.map((c) => `<span class="swatch" style="background:${c}"></span>`).join('') +
      `<span>${m2(max)} m²</span>`;
  }

  async function load() {
    root.dataset.ready = 'false';
    errorBox.hidden = true;
    const params = query();
    const programme = params.get('programme') || '';
    history.replaceState(null, '', '/dashboard?' + params.toString());
    const label = document.getElementById('period-label');
    label.textContent = `${programme} — ${params.get('from') || 'start'} to ${params.get('to') || 'today'}`;
    try {
      const byAdmin = new URLSearchParams(params);
      byAdmin.set('group_by', 'admin1');
      const [series, summary, areas] = await Promise.all([
        getJSON('/api/v1/summaries/time-series?' + params.toString()),
        getJSON('/api/v1/summaries/land-release?' + byAdmin.toString()),
        getJSON('/api/v1/admin-areas?level=1&programme=' + encodeURIComponent(programme)),
      ]);
      showCards(summary.totals);
      showSeries(series);
      showAdminTable(summary.rows);
      showMap(areas, summary.rows);
    } catch (err) {
      errorBox.textContent = 'Could not load the figures: ' + err.message;
      errorBox.hidden = false;
    }
    root.dataset.ready = 'true';
  }

  // Filters from the address, so that a dashboard view can be bookmarked and shared.
  const initial = new URLSearchParams(window.location.search);
  for (const name of ['programme', 'from', 'to']) {
    if (initial.get(name)) form.elements[name].value = initial.get(name);
  }
  form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  load();
})();
