/* Funnels and retention (view=funnels): /v1/funnel and /v1/retention (read/funnels.py,
 * read/retention.py, whose definitions are the contract), over the view's range.
 *
 * The funnel: event types in order (comma-separated, a type may repeat) and the
 * conversion window; drawn as one bar per step (users who reached it) labelled with the
 * conversion from the first step, and a table with the conversion from the previous step
 * and the median time between them. Retention: the cohort event (a user's first one in
 * the range puts them in the cohort of its period), what counts as coming back (any
 * event by default) and the period; a table of cohorts by periods after, as shares of
 * the cohort, shaded by the share. Both read raw events (kept 90 days): the API says so
 * for longer ranges. A funnel can be broken down by the service or a field of the
 * entering event (a bar per group beside each step's, and a table per group and step),
 * and each step narrowed by field filters (`N:field:op:value`, the API's own syntax);
 * retention can be broken down by the service of the cohort event (a triangle per
 * service). The choices are in the URL (f_steps, f_within, f_filter (repeated),
 * f_break, r_cohort, r_return, r_period, r_break), so a view is a link; each card's CSV
 * button saves the API's own CSV (format=csv) of the question drawn. Every text that
 * comes from the data or the URL reaches the page as textContent, never as HTML.
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;
  const $ = (id) => lib.$(id);
  const PERIODS = ['day', 'week', 'month'];
  const META = ['service', 'user_id', 'host', 'release', 'environment'];
  const OPS = { eq: '=', ne: '≠', in: 'in', lt: '<', gt: '>', is_null: 'is null', is_not_null: 'is not null' };
  // A step filter as the API takes it: `<step number>:field:op[:value]`.
  const STEP_FILTER = /^(\d+):([^:]+):(eq|ne|in|lt|gt|is_null|is_not_null)(:.*)?$/;
  const FIELD = /^[A-Za-z_][A-Za-z0-9_.]{0,104}$/;
  const fmtSecs = (s) => (s == null ? '–' : s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : s < 3600 ? `${(s / 60).toFixed(1)} min` : s < 86400 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} d`);
  const share = (n, of) => (of ? lib.fmtPct(n / of) : '–');

  const f = () => dashboard.state.funnels;
  // A user's path crosses services: these questions have no service filter, and say so.
  const allServices = () => (dashboard.state.service ? ' · all services (no service filter here)' : '');

  function defaults(types) {
    const want = ['task_created', 'task_started', 'task_completed'];
    const steps = want.every((t) => types.includes(t)) ? want : types.slice(0, 2);
    const cohort = types.includes('task_created') ? 'task_created' : (types[0] || '');
    return { steps: steps.join(','), cohort };
  }

  async function loadFunnels(range) {
    const { event_types: types } = await lib.api('/v1/events/types');
    const st = { ...f() };
    const d = defaults(types);
    st.steps = st.steps || d.steps;
    st.cohort = types.includes(st.cohort) ? st.cohort : d.cohort;
    const days = Math.round((lib.ts(range.end) - lib.ts(range.start)) / 86400000);
    const period = st.period || (days <= 14 ? 'day' : 'week');
    Object.assign(f(), st);
    const nSteps = st.steps.split(',').length;
    st.filters = st.filters.filter((x) => Number(x.split(':')[0]) <= nSteps);
    const funnelParams = { ...range, steps: st.steps, within: st.within, step_filter: st.filters, breakdown: st.breakdown };
    const retentionParams = { ...range, cohort_event: st.cohort, return_event: st.ret, period, breakdown: st.rbreak };
    lib.exportOf('card-funnel', '/v1/funnel', funnelParams);
    lib.exportOf('card-retention', '/v1/retention', retentionParams);
    const entry = st.steps.split(',')[0];
    const [funnel, cohorts, fields] = await Promise.allSettled([
      st.steps.split(',').length >= 2 ? lib.api('/v1/funnel', funnelParams) : Promise.reject(new Error('a funnel needs at least two steps')),
      st.cohort ? lib.api('/v1/retention', retentionParams) : Promise.reject(new Error('no event stored to start a cohort')),
      // the fields of the entering event: what the breakdown and the filters can name
      entry ? lib.api('/v1/events/fields', { event_type: entry }) : Promise.resolve([]),
    ]);
    for (const r of [funnel, cohorts, fields]) if (r.status === 'rejected' && r.reason instanceof lib.AuthError) throw r.reason;
    const names = [...new Set([...META, ...(fields.status === 'fulfilled' ? fields.value.map((x) => x.name) : [])])];
    return () => {
      controls(types, st, period, names);
      drawFunnel(funnel.status === 'fulfilled' ? funnel.value : null, funnel.reason);
      drawRetention(cohorts.status === 'fulfilled' ? cohorts.value : null, cohorts.reason);
    };
  }

  const option = (value, text) => { const o = document.createElement('option'); o.value = value; o.textContent = text; return o; };

  function controls(types, st, period, names) {
    $('f-steps').value = st.steps;
    const breaks = st.breakdown && !names.includes(st.breakdown) ? [...names, st.breakdown] : names;
    $('f-break').replaceChildren(option('', '(none)'), ...breaks.map((n) => option(n, n)));
    $('f-break').value = st.breakdown;
    $('f-fields').replaceChildren(...names.map((n) => option(n, n)));
    const steps = st.steps ? st.steps.split(',') : [];
    $('f-ff-step').replaceChildren(...steps.map((t, i) => option(String(i + 1), `step ${i + 1} (${t})`)));
    $('f-filters').replaceChildren(...st.filters.map((x, i) => {
      const [, n, field, op, value] = STEP_FILTER.exec(x);
      const li = document.createElement('li');
      li.textContent = `step ${n}: ${field} ${OPS[op]}${value ? ' ' + value.slice(1) : ''}`;
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = '×'; b.title = 'Remove this step filter';
      b.addEventListener('click', () => change({ filters: st.filters.filter((_, j) => j !== i) }));
      li.append(b);
      return li;
    }));
    $('r-break').value = st.rbreak;
    $('f-within').value = st.within;
    $('f-types').replaceChildren(...types.map((t) => { const o = document.createElement('option'); o.value = t; return o; }));
    for (const [id, first] of [['r-cohort', null], ['r-return', ['', 'any event']]]) {
      const sel = $(id);
      const values = (first ? [first] : []).concat(types.map((t) => [t, t]));
      sel.replaceChildren(...values.map(([v, text]) => { const o = document.createElement('option'); o.value = v; o.textContent = text; return o; }));
    }
    $('r-cohort').value = st.cohort;
    $('r-return').value = st.ret;
    $('r-period').value = period;
  }

  // A breakdown group's name as the page shows it: "other" for the rest, a dash for none.
  const GROUP_COLORS = lib.SERIES_COLORS.slice(1);  // indigo is all users
  const groupName = (g) => (g.other ? 'other' : g.value == null ? '–' : g.value);

  // One table row per step: its name, users, conversions and times (text cells only).
  function stepRows(body, steps, lead) {
    for (const [i, s] of steps.entries()) {
      const tr = body.insertRow();
      for (const v of lead) tr.insertCell().textContent = v;
      tr.insertCell().textContent = `${i + 1}. ${s.event_type}`;
      for (const v of [lib.fmtInt(s.users), lib.fmtPct(s.conversion_from_previous), lib.fmtPct(s.conversion_from_first), fmtSecs(s.median_seconds_from_previous), fmtSecs(s.p95_seconds_from_previous)]) {
        const td = tr.insertCell(); td.className = 'num'; td.textContent = v;
      }
    }
  }

  function drawFunnel(result, error) {
    $('f-note').textContent = (result ? `window: ${fmtSecs(result.within_seconds)} from the first step` : String((error && error.message) || error || '')) + allServices();
    const steps = result ? result.steps : [];
    const groups = (result && result.groups) || [];
    const cats = steps.map((s, i) => `${i + 1}. ${s.event_type}`);
    const bar = (name, data, color, conv) => ({
      name, type: 'bar', data, barMaxWidth: 26, itemStyle: { color },
      label: { show: true, position: 'right', color: '#4a5368', fontSize: 11, formatter: (p) => lib.fmtPct(conv[p.dataIndex].conversion_from_first) },
    });
    lib.chart('chart-funnel').setOption(lib.empty({
      tooltip: { ...lib.baseTooltip, axisPointer: { type: 'shadow' } },
      legend: groups.length ? { top: 0, type: 'scroll' } : undefined,
      grid: { ...lib.grid, right: 70, ...(groups.length ? { top: 30 } : {}) },
      xAxis: lib.valueAxis({ minInterval: 1 }),
      yAxis: { type: 'category', inverse: true, data: cats, ...lib.axisCommon, axisLabel: { color: '#1c2333', fontSize: 12 } },
      // all users' bar, then one per breakdown group (series named after the group)
      series: [bar('users', steps.map((s) => s.users), lib.C.indigo, steps)].concat(groups.map((g, i) => bar(`${result.breakdown}: ${groupName(g)}`, g.steps.map((s) => s.users), GROUP_COLORS[i % GROUP_COLORS.length], g.steps))),
    }, steps.length), true);
    const body = $('f-table').tBodies[0];
    body.replaceChildren();
    stepRows(body, steps, []);
    $('f-groups-wrap').hidden = !groups.length;
    const gbody = $('f-groups').tBodies[0];
    gbody.replaceChildren();
    for (const g of groups) stepRows(gbody, g.steps, [groupName(g)]);
  }

  // Cohorts by periods after, as shares of each cohort (shaded by the share); `lead`
  // names the leading columns of a row (the group, for a breakdown).
  function cohortTable(table, result, rows, leadHead) {
    const n = result ? result.periods : 0;
    const head = document.createElement('tr');
    for (const h of [...leadHead, 'Cohort', 'Users', ...Array.from({ length: n }, (_, k) => `${result.period} ${k + 1}`)]) {
      const th = document.createElement('th'); th.textContent = h; th.className = h === 'Cohort' || leadHead.includes(h) ? '' : 'num'; head.append(th);
    }
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const [lead, c] of rows) {
      const tr = body.insertRow();
      for (const v of lead) tr.insertCell().textContent = v;
      tr.insertCell().textContent = c.period_start.slice(0, 10);
      const size = tr.insertCell(); size.className = 'num'; size.textContent = lib.fmtInt(c.size);
      for (const k of Array.from({ length: n }, (_, i) => i + 1)) {
        const td = tr.insertCell(); td.className = 'num retention';
        if (k < c.returned.length) {
          td.textContent = share(c.returned[k], c.size);
          td.title = `${c.returned[k]} of ${c.size}`;
          td.style.setProperty('--share', String(c.size ? c.returned[k] / c.size : 0));
        }
      }
    }
  }

  function drawRetention(result, error) {
    $('r-note').textContent = (result ? `cohorts by ${result.period}, as of ${result.as_of.slice(0, 16).replace('T', ' ')} UTC` : String((error && error.message) || error || '')) + allServices();
    cohortTable($('r-table'), result, (result ? result.cohorts : []).map((c) => [[], c]), []);
    const groups = (result && result.groups) || [];
    $('r-groups-wrap').hidden = !groups.length;
    cohortTable($('r-groups'), result, groups.flatMap((g) => g.cohorts.map((c) => [[groupName(g)], c])), ['Service']);
  }

  function change(changes) {
    lib.navigate({ funnels: { ...f(), ...changes } });
  }

  dashboard.modules.push({
    keys: ['funnels'],
    fromUrl(q) {
      return {
        funnels: {
          steps: (q.get('f_steps') || '').split(',').map((s) => s.trim()).filter(Boolean).join(','),
          within: /^\d+[smhdw]$/.test(q.get('f_within') || '') ? q.get('f_within') : '14d',
          filters: q.getAll('f_filter').filter((x) => STEP_FILTER.test(x)),
          breakdown: FIELD.test(q.get('f_break') || '') ? q.get('f_break') : '',
          cohort: q.get('r_cohort') || '', ret: q.get('r_return') || '',
          period: PERIODS.includes(q.get('r_period')) ? q.get('r_period') : '',
          rbreak: q.get('r_break') === 'service' ? 'service' : '',
        },
      };
    },
    toUrl(view, q) {
      const st = view.funnels;
      if (!st || view.view !== 'funnels') return;
      if (st.steps) q.set('f_steps', st.steps);
      if (st.within !== '14d') q.set('f_within', st.within);
      for (const x of st.filters) q.append('f_filter', x);
      if (st.breakdown) q.set('f_break', st.breakdown);
      if (st.cohort) q.set('r_cohort', st.cohort);
      if (st.ret) q.set('r_return', st.ret);
      if (st.period) q.set('r_period', st.period);
      if (st.rbreak) q.set('r_break', st.rbreak);
    },
    init() {
      $('f-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        change({ steps: $('f-steps').value.split(',').map((s) => s.trim()).filter(Boolean).join(','), within: $('f-within').value.trim() || '14d' });
      });
      $('r-cohort').addEventListener('change', (ev) => change({ cohort: ev.target.value }));
      $('r-return').addEventListener('change', (ev) => change({ ret: ev.target.value }));
      $('r-period').addEventListener('change', (ev) => change({ period: ev.target.value }));
      $('r-break').addEventListener('change', (ev) => change({ rbreak: ev.target.value }));
      $('f-break').addEventListener('change', (ev) => change({ breakdown: ev.target.value }));
      $('f-ff-op').addEventListener('change', (ev) => { $('f-ff-value').disabled = ev.target.value.startsWith('is_'); });
      $('f-ff-add').addEventListener('click', () => {
        const op = $('f-ff-op').value;
        const field = $('f-ff-field').value.trim();
        const value = $('f-ff-value').value.trim();
        if (!FIELD.test(field)) { lib.showStatus('A step filter needs a field name.', true); return; }
        if (!op.startsWith('is_') && !value) { lib.showStatus('A step filter needs a value.', true); return; }
        $('f-ff-value').value = '';
        change({ filters: [...f().filters, `${$('f-ff-step').value}:${field}:${op}${op.startsWith('is_') ? '' : ':' + value}`] });
      });
    },
    loaders(view) {
      return view === 'funnels' ? [loadFunnels] : [];
    },
  });
})();
