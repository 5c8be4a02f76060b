/* Explore: any measure of any event type (custom ones included), filtered by any field,
 * grouped by up to two, per hour, day or the whole range, beside the previous period of
 * equal length: /v1/explore (read/explore.py), which is exact against the raw events.
 *
 * Two requests per view: the chosen question (chart and table), and the same question
 * over the whole range without groups (the total card and its change; a p95 or a count
 * of distinct users is not a sum of buckets, so it is asked, not added up). The global
 * service filter is one more filter (service:eq:...). Every choice is in the URL (x_*),
 * so a question is a link; the CSV button saves the API's CSV of the question on screen.
 * A user id in the table opens that user's view.
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;
  const $ = (id) => lib.$(id);
  const NEEDS_FIELD = ['sum', 'avg', 'min', 'max', 'p50', 'p95', 'p99'];
  const ADDS = ['count', 'users', 'sum'];  // measures whose empty bucket is a zero, not a gap
  const META = ['service', 'user_id', 'host', 'release', 'environment'];
  const GRANS = ['hour', 'day', 'total'];
  const MAX_TABLE = 1000;
  const DEFAULT = { type: '', measure: 'count', field: '', filters: [], group: [], gran: 'day', compare: true };

  const x = () => dashboard.state.explore;
  const measureParam = (e) => (NEEDS_FIELD.includes(e.measure) ? `${e.measure}:${e.field}` : e.measure);
  const label = (r) => r.group.map((g, i) => (r.other[i] ? 'other' : g == null ? '–' : g)).join(' · ');
  const options = (sel, values, labels = values) => {
    sel.replaceChildren(...values.map((v, i) => {
      const o = document.createElement('option');
      o.value = v; o.textContent = labels[i]; return o;
    }));
  };

  function change(changes) {
    lib.navigate({ explore: { ...x(), ...changes } });
  }

  async function loadExplore(range) {
    const e = { ...x() };
    const { event_types: types } = await lib.api('/v1/events/types');
    e.type = types.includes(e.type) ? e.type : (types[0] || '');
    if (!e.type) return () => draw(range, e, types, [], null, null, 'No events stored in the last 90 days.');
    const fields = await lib.api('/v1/events/fields', { event_type: e.type });
    const numeric = fields.filter((f) => f.type === 'number').map((f) => f.name);
    if (NEEDS_FIELD.includes(e.measure) && !numeric.includes(e.field)) {
      if (numeric.length) e.field = numeric[0];
      else e.measure = 'count';
    }
    Object.assign(x(), e);  // what the controls show is what was asked
    const filters = e.filters.concat(dashboard.state.service ? [`service:eq:${dashboard.state.service}`] : []);
    const base = { ...range, event_type: e.type, measure: measureParam(e), filter: filters };
    const params = { ...base, granularity: e.gran, group_by: e.group, compare: e.compare };
    lib.exportOf('card-explore', '/v1/explore', params);
    const [result, total] = await Promise.all([
      lib.api('/v1/explore', params),
      lib.api('/v1/explore', { ...base, granularity: 'total', compare: true }),
    ]);
    const names = [...new Set([...META, ...fields.map((f) => f.name)])];
    return () => draw(range, e, types, names, result, total, '', numeric);
  }

  function controls(e, types, names, numeric) {
    options($('x-type'), types);
    $('x-type').value = e.type;
    $('x-measure').value = e.measure;
    options($('x-field'), numeric.length ? numeric : [''], numeric.length ? numeric : ['(no numeric field)']);
    $('x-field').value = e.field || numeric[0] || '';
    $('x-field').disabled = !NEEDS_FIELD.includes(e.measure);
    options($('x-group1'), ['', ...names], ['(none)', ...names]);
    options($('x-group2'), ['', ...names], ['(none)', ...names]);
    $('x-group1').value = e.group[0] || '';
    $('x-group2').value = e.group[1] || '';
    $('x-group2').disabled = !e.group[0];
    options($('x-f-field'), names);
    $('x-gran').value = e.gran;
    $('x-compare').checked = e.compare;
    $('x-filters').replaceChildren(...e.filters.map((f, i) => {
      const li = document.createElement('li');
      const [field, op, ...rest] = f.split(':');
      li.textContent = `${field} ${$('x-f-op').querySelector(`option[value="${op}"]`)?.textContent || op} ${rest.join(':')}`;
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = '×'; b.title = 'Remove this filter';
      b.addEventListener('click', () => change({ filters: e.filters.filter((_, j) => j !== i) }));
      li.append(b);
      return li;
    }));
  }

  function draw(range, e, types, names, result, total, message, numeric = []) {
    controls(e, types, names, numeric);
    const what = NEEDS_FIELD.includes(e.measure) ? `${e.measure} of ${e.field}` : e.measure === 'users' ? 'distinct users' : 'count';
    $('x-title').textContent = `${what} · ${e.type || '–'}`;
    $('x-scope').textContent = dashboard.state.service ? `service ${dashboard.state.service}` : 'all services';
    $('x-note').textContent = message;
    drawTotal(e, total, what);
    drawChart(range, e, result);
    drawTable(e, result);
  }

  function drawTotal(e, total, what) {
    const cur = total && total.rows.length ? total.rows[0].values[0] : null;
    const prev = total && total.previous_rows && total.previous_rows.length ? total.previous_rows[0].values[0] : null;
    $('x-total-label').textContent = what;
    $('x-total').querySelector('.value').textContent = lib.fmtVal(cur);
    const d = lib.fmtDelta(cur, prev, false);
    const el = $('x-total').querySelector('.delta');
    el.textContent = d;
    el.dataset.trend = d.startsWith('+') ? 'up' : d.startsWith('-') ? 'down' : 'flat';
    $('x-total-hint').textContent = `whole range · previous period: ${lib.fmtVal(prev)}`;
  }

  function drawChart(range, e, result) {
    const c = lib.chart('chart-explore');
    if (!result) { c.clear(); return; }
    const groups = [...new Set(result.rows.map(label))];
    const fill = ADDS.includes(e.measure) ? 0 : null;
    if (e.gran === 'total') {
      const cats = groups.length && groups[0] !== '' ? groups : ['all'];
      const prevBy = new Map((result.previous_rows || []).map((r) => [label(r) || 'all', r.values[0]]));
      const series = [{ name: 'this period', type: 'bar', data: result.rows.map((r) => r.values[0]), itemStyle: { color: lib.C.indigo }, barMaxWidth: 28 }];
      if (e.compare) series.push({ name: 'previous period', type: 'bar', data: cats.map((g) => prevBy.get(g) ?? null), itemStyle: { color: lib.C.slate }, barMaxWidth: 28 });
      c.setOption(lib.empty({
        tooltip: { ...lib.baseTooltip, axisPointer: { type: 'shadow' } }, legend: lib.legend, grid: lib.grid,
        xAxis: { type: 'category', data: cats, ...lib.axisCommon }, yAxis: lib.valueAxis(), series,
      }, result.rows.length), true);
      return;
    }
    const step = lib.stepOf(e.gran);
    const buckets = result.buckets.map(lib.ts);
    const series = groups.map((g, i) => {
      const mine = lib.indexBy(result.rows.filter((r) => label(r) === g), 'bucket');
      return lib.line(g || e.type, lib.dense(buckets, mine, (r) => r.values[0], fill), lib.SERIES_COLORS[i % lib.SERIES_COLORS.length]);
    });
    if (e.compare && !e.group.length && result.previous_buckets) {
      // The previous period drawn on this period's buckets (the n-th bucket of each).
      const prev = lib.indexBy(result.previous_rows || [], 'bucket');
      const data = result.previous_buckets.map((b, i) => {
        const r = prev.get(lib.ts(b));
        return [buckets[i], r === undefined ? fill : r.values[0]];
      });
      series.push(lib.line('previous period', data, lib.C.slate, { lineStyle: { width: 1.5, type: [4, 3], color: lib.C.slate } }));
    }
    const fit = lib.wrappedLegend('chart-explore', series.map((s) => s.name));
    c.setOption(lib.empty({
      tooltip: lib.baseTooltip, legend: fit.legend, grid: { ...lib.grid, top: fit.top },
      xAxis: lib.timeAxis({}, step), yAxis: lib.valueAxis(), series,
    }, result.rows.length), true);
  }

  // The previous period's value of each row: the same group in the bucket at the same
  // position of the previous period (or the same group, for the whole range).
  function previousOf(e, result) {
    if (!e.compare || !result || !result.previous_rows) return null;
    const at = (buckets) => new Map((buckets || []).map((b, i) => [lib.ts(b), i]));
    const cur = at(result.buckets), prev = at(result.previous_buckets);
    const key = (pos, r) => `${r.bucket == null ? '' : pos.get(lib.ts(r.bucket))}|${label(r)}`;
    const values = new Map(result.previous_rows.map((r) => [key(prev, r), r.values[0]]));
    return (r) => values.get(key(cur, r)) ?? null;
  }

  function drawTable(e, result) {
    const table = $('x-table');
    const rows = result ? result.rows : [];
    const prevOf = previousOf(e, result);
    const head = [...(e.gran === 'total' ? [] : ['Bucket (UTC)']), ...e.group, $('x-title').textContent.split(' · ')[0]];
    if (prevOf) head.push('previous period', 'change');
    const tr = document.createElement('tr');
    head.forEach((h, i) => {
      const th = document.createElement('th'); th.textContent = h;
      if (i >= head.length - (prevOf ? 3 : 1)) th.className = 'num';
      tr.append(th);
    });
    table.tHead.replaceChildren(tr);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const r of rows.slice(0, MAX_TABLE)) {
      const row = body.insertRow();
      if (e.gran !== 'total') row.insertCell().textContent = e.gran === 'day' ? r.bucket.slice(0, 10) : r.bucket.slice(0, 16).replace('T', ' ');
      r.group.forEach((g, i) => {
        const td = row.insertCell();
        if (r.other[i]) { td.textContent = 'other'; return; }
        if (g == null) { td.textContent = '–'; return; }
        if (e.group[i] === 'user_id') {
          const a = document.createElement('a');
          a.className = 'user'; a.textContent = g;
          a.href = '?view=user&user=' + encodeURIComponent(g);
          a.addEventListener('click', (ev) => { ev.preventDefault(); lib.navigate({ view: 'user', user: g, userType: '' }); });
          td.append(a);
        } else td.textContent = g;
      });
      const cells = [lib.fmtVal(r.values[0])];
      if (prevOf) cells.push(lib.fmtVal(prevOf(r)), lib.fmtDelta(r.values[0], prevOf(r), false));
      for (const c of cells) { const v = row.insertCell(); v.className = 'num'; v.textContent = c; }
    }
    if (rows.length > MAX_TABLE) $('x-note').textContent = `The first ${MAX_TABLE} of ${rows.length} rows; the CSV has them all.`;
    else if (result && !rows.length) $('x-note').textContent = 'No events match in this range.';
  }

  dashboard.modules.push({
    keys: ['explore'],
    fromUrl(q) {
      const measure = q.get('x_measure') || DEFAULT.measure;
      return {
        explore: {
          type: q.get('x_type') || '',
          measure: ['count', 'users', ...NEEDS_FIELD].includes(measure) ? measure : 'count',
          field: q.get('x_field') || '',
          filters: q.getAll('x_filter').filter((f) => f.split(':').length >= 2),
          group: q.getAll('x_group').filter(Boolean).slice(0, 2),
          gran: GRANS.includes(q.get('x_gran')) ? q.get('x_gran') : DEFAULT.gran,
          compare: q.get('x_compare') !== '0',
        },
      };
    },
    toUrl(view, q) {
      const e = view.explore;
      if (!e || view.view !== 'explore') return;
      if (e.type) q.set('x_type', e.type);
      if (e.measure !== 'count') q.set('x_measure', e.measure);
      if (NEEDS_FIELD.includes(e.measure) && e.field) q.set('x_field', e.field);
      for (const f of e.filters) q.append('x_filter', f);
      for (const g of e.group) q.append('x_group', g);
      if (e.gran !== DEFAULT.gran) q.set('x_gran', e.gran);
      if (!e.compare) q.set('x_compare', '0');
    },
    init() {
      $('x-type').addEventListener('change', (ev) => change({ type: ev.target.value, field: '', filters: [], group: [] }));
      $('x-measure').addEventListener('change', (ev) => change({ measure: ev.target.value }));
      $('x-field').addEventListener('change', (ev) => change({ field: ev.target.value }));
      $('x-group1').addEventListener('change', (ev) => change({ group: ev.target.value ? [ev.target.value, ...x().group.slice(1)].filter((g, i, a) => a.indexOf(g) === i) : [] }));
      $('x-group2').addEventListener('change', (ev) => change({ group: [x().group[0], ev.target.value].filter(Boolean) }));
      $('x-gran').addEventListener('change', (ev) => change({ gran: ev.target.value }));
      $('x-compare').addEventListener('change', (ev) => change({ compare: ev.target.checked }));
      $('x-f-op').addEventListener('change', (ev) => { $('x-f-value').disabled = ev.target.value.startsWith('is_'); });
      $('x-f-add').addEventListener('click', () => {
        const op = $('x-f-op').value;
        const value = $('x-f-value').value.trim();
        if (!op.startsWith('is_') && !value) { lib.showStatus('A filter needs a value.', true); return; }
        $('x-f-value').value = '';
        change({ filters: [...x().filters, `${$('x-f-field').value}:${op}${op.startsWith('is_') ? '' : ':' + value}`] });
      });
    },
    loaders(view) {
      return view === 'explore' ? [loadExplore] : [];
    },
  });
})();
