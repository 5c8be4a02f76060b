/* Hideable panels: Integrations, Authentication and Cocoons are one platform's event
 * families; a platform that sends none of their events sees them hidden, with a word
 * saying so and a button to show them anyway. Any of them can be hidden by hand too.
 *
 * Why by event type: the catalog (/v1/events/types, every type stored in the last 90
 * days) is what "this platform sends" means; an empty range alone would hide a panel on
 * a quiet day. The choice lives in the URL (hide=auth,cocoons; show=... for a family
 * shown although absent), so a link keeps it, and in localStorage, so this browser
 * remembers it when a link does not say.
 */
(() => {
  'use strict';

  const dashboard = window.dashboard;
  const lib = dashboard.lib;
  const KEY = 'lib-analytics-core.panels';
  // Panel -> its title and the event-type prefixes of its family.
  const FAMILIES = {
    integrations: { title: 'Integration health', prefixes: ['integration_', 'oauth_', 'webhook_'] },
    auth: { title: 'Authentication', prefixes: ['auth_'] },
    cocoons: { title: 'Cocoons', prefixes: ['cocoon_'] },
  };
  const NAMES = Object.keys(FAMILIES);
  // The families the catalog has no event of (null until it was read).
  let absent = null;

  const list = (v) => (v || '').split(',').filter((n) => NAMES.includes(n));

  function stored() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || '{}');
      return { hide: list((s.hide || []).join(',')), show: list((s.show || []).join(',')) };
    } catch (_) {
      return { hide: [], show: [] };
    }
  }

  function store(hide, show) {
    try { localStorage.setItem(KEY, JSON.stringify({ hide, show })); } catch (_) { /* private mode */ }
  }

  function hidden(name) {
    const st = dashboard.state;
    if (st.hide.includes(name)) return 'you';
    if (absent && absent.includes(name) && !st.show.includes(name)) return 'absent';
    return null;
  }

  // Show and hide the cards, and say which are hidden and why, with a way back.
  function apply() {
    const byYou = [], byAbsence = [];
    for (const name of NAMES) {
      const why = hidden(name);
      lib.$('card-' + name).hidden = Boolean(why);
      if (why === 'you') byYou.push(name);
      if (why === 'absent') byAbsence.push(name);
    }
    const box = lib.$('hidden-panels');
    box.replaceChildren();
    const say = (names, text) => {
      if (!names.length) return;
      const p = document.createElement('p');
      p.textContent = names.map((n) => FAMILIES[n].title).join(', ') + text + ' ';
      for (const n of names) {
        const b = document.createElement('button');
        b.type = 'button'; b.dataset.show = n; b.textContent = 'Show ' + FAMILIES[n].title;
        p.append(b);
      }
      box.append(p);
    };
    say(byAbsence, byAbsence.length > 1
      ? ' hidden: this platform sends no events of these kinds (none in the last 90 days).'
      : ' hidden: this platform sends no events of this kind (none in the last 90 days).');
    say(byYou, ' hidden by you (kept in the link and in this browser).');
    box.hidden = !box.childElementCount;
    for (const name of NAMES) {
      if (!lib.$('card-' + name).hidden && dashboard.charts['chart-' + name]) dashboard.charts['chart-' + name].resize();
    }
  }

  function change(hide, show) {
    lib.remember({ hide, show });
    store(hide, show);
    apply();
  }

  dashboard.modules.push({
    keys: ['hide', 'show'],
    fromUrl(q) {
      if (q.has('hide') || q.has('show')) return { hide: list(q.get('hide')), show: list(q.get('show')) };
      return stored();
    },
    toUrl(view, q) {
      if (view.hide && view.hide.length) q.set('hide', view.hide.join(','));
      if (view.show && view.show.length) q.set('show', view.show.join(','));
    },
    init() {
      for (const name of NAMES) {
        lib.$('card-' + name).querySelector('.hide').addEventListener('click', () => {
          const st = dashboard.state;
          change([...st.hide.filter((n) => n !== name), name], st.show.filter((n) => n !== name));
        });
      }
      lib.$('hidden-panels').addEventListener('click', (ev) => {
        const name = ev.target.dataset && ev.target.dataset.show;
        if (!name) return;
        const st = dashboard.state;
        const show = absent && absent.includes(name) ? [...st.show.filter((n) => n !== name), name] : st.show;
        change(st.hide.filter((n) => n !== name), show);
      });
    },
    loaders(view) {
      if (view !== 'overview') return [];
      return [async () => {
        const { event_types: types } = await lib.api('/v1/events/types');
        return () => {
          absent = NAMES.filter((n) => !types.some((t) => FAMILIES[n].prefixes.some((p) => t.startsWith(p))));
          apply();
        };
      }];
    },
  });
})();
