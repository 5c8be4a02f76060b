/* One user: first and last seen, events per type (/v1/users/{id}), and the timeline
 * newest first (/v1/users/{id}/events), a page at a time: "Older events" asks for the
 * next page with the cursor of the last one (before=next_before), so no event is skipped
 * or repeated while new ones arrive. Reached from the look-up box in the top bar or from
 * a user id in the explore table; the id is in the URL (view=user&user=...).
 *
 * A user with no stored events (never seen, or erased with forget-user) is a 404 from
 * the API, said as such here rather than as an error.
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;
  const $ = (id) => lib.$(id);
  const PAGE = 50;
  const when = (s) => (s ? s.slice(0, 19).replace('T', ' ') + ' UTC' : '–');
  let next = null;  // the cursor of the next (older) page, null on the last
  let shownFor = null;

  async function page(id, before) {
    return lib.api(`/v1/users/${encodeURIComponent(id)}/events`, { limit: PAGE, before, event_type: dashboard.state.userType });
  }

  function rows(events) {
    const body = $('u-timeline').tBodies[0];
    for (const ev of events) {
      const tr = body.insertRow();
      tr.dataset.id = ev.event_id;
      tr.insertCell().textContent = when(ev.timestamp);
      tr.insertCell().textContent = ev.event_type + (ev.typed ? '' : ' (untyped)');
      tr.insertCell().textContent = ev.service;
      const data = tr.insertCell();
      data.className = 'msg';
      const text = JSON.stringify(ev.data);
      data.textContent = text.length > 240 ? text.slice(0, 239) + '…' : text;
      data.title = text;
    }
  }

  async function loadUser() {
    const id = dashboard.state.user || '';
    if (!id) return () => show(id, null, null, 'Enter a user id in the box above.');
    try {
      const [summary, first] = await Promise.all([
        lib.api(`/v1/users/${encodeURIComponent(id)}`), page(id, null),
      ]);
      return () => show(id, summary, first, '');
    } catch (e) {
      if (e instanceof lib.AuthError) throw e;
      if (/: 404 /.test(String(e.message))) {
        return () => show(id, null, null, 'No stored events for this user: never seen, or erased (forget-user).');
      }
      throw e;
    }
  }

  function show(id, summary, first, message) {
    shownFor = id;
    $('u-id').textContent = id;
    $('user-input').value = id;
    $('u-note').textContent = (message || 'first/last seen and counts: the last 90 days of raw events')
      + (dashboard.state.service ? ' · all services (a user is not filtered by service)' : '');
    $('u-first').textContent = when(summary && summary.first_seen);
    $('u-last').textContent = when(summary && summary.last_seen);
    $('u-events').textContent = summary ? lib.fmtInt(summary.events) : '–';
    const counts = $('u-counts').tBodies[0];
    counts.replaceChildren();
    const entries = summary ? Object.entries(summary.counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)) : [];
    for (const [type, n] of entries) {
      const tr = counts.insertRow();
      // A type narrows the timeline to it (u_type in the URL).
      const b = document.createElement('button');
      b.type = 'button'; b.className = 'type'; b.dataset.type = type; b.textContent = type;
      b.title = 'Only this type in the timeline';
      tr.insertCell().append(b);
      const td = tr.insertCell(); td.className = 'num'; td.textContent = lib.fmtInt(n);
    }
    const only = dashboard.state.userType;
    $('u-filter').hidden = !only;
    $('u-filter-type').textContent = only || '';
    $('u-timeline').tBodies[0].replaceChildren();
    rows(first ? first.events : []);
    next = first ? first.next_before : null;
    $('u-older').hidden = !next;
  }

  async function older() {
    const id = shownFor;
    if (!id || !next) return;
    const btn = $('u-older');
    btn.disabled = true;
    try {
      const got = await page(id, next);
      if (id !== shownFor) return;  // another user was opened meanwhile
      rows(got.events);
      next = got.next_before;
      btn.hidden = !next;
      dashboard.userPages += 1;
    } catch (e) {
      lib.showStatus(String(e.message || e), true);
    } finally {
      btn.disabled = false;
    }
  }

  dashboard.modules.push({
    keys: ['user', 'userType'],
    fromUrl(q) {
      return { user: (q.get('user') || '').trim(), userType: (q.get('u_type') || '').trim() };
    },
    toUrl(view, q) {
      if (view.view === 'user' && view.user) q.set('user', view.user);
      if (view.view === 'user' && view.user && view.userType) q.set('u_type', view.userType);
    },
    init() {
      $('u-older').addEventListener('click', older);
      $('u-counts').addEventListener('click', (ev) => {
        const b = ev.target.closest('button.type');
        if (b) lib.navigate({ userType: b.dataset.type });
      });
      $('u-all').addEventListener('click', () => lib.navigate({ userType: '' }));
    },
    loaders(view) {
      return view === 'user' ? [loadUser] : [];
    },
  });
})();
