// @ts-check
// The live status page: polls /status.json once a second and redraws in
// place; the machine diagrams are drawn once from /status/machines.json
// (Mermaid, served by the status service itself) and only their highlighted
// states change afterwards.
/* global mermaid */
'use strict';

const POLL_MS = 1000;
const $ = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (document.querySelector(sel));

const fmt = {
  bytes(/** @type {number} */ n) {
    if (!n) return '0';
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
  },
  duration(/** @type {number} */ s) {
    if (s < 60) return `${Math.floor(s)}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  },
  num(/** @type {number} */ n) { return n.toLocaleString('en-US', { maximumFractionDigits: 1 }); },
  time(/** @type {string} */ iso) { return new Date(iso).toLocaleTimeString(); },
};

/** @param {string} tag @param {Record<string, string>} attrs @param {(Node|string)[]} children */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function card(label, value, warn = false, id = '') {
  return el('div', { class: `card${warn ? ' warn' : ''}`, 'data-card': id }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value));
}

function renderCards(s) {
  const short = s.active_children_count < s.configured_children_count;
  const r = s.responses;
  $('#cards').replaceChildren(
    card('children ready', `${s.active_children_count} / ${s.configured_children_count}`, short, 'children'),
    card('requests/s', fmt.num(s.requests_per_second), false, 'rps'),
    card('in flight', fmt.num(s.concurrent_requests), false, 'inflight'),
    card('queued', fmt.num(s.queued_requests), s.queued_requests > 0, 'queued'),
    card('requests served', fmt.num(s.requests_total), false, 'requests'),
    card('errors (5xx)', fmt.num(r['5xx'] || 0), (r['5xx'] || 0) > 0, 'errors'),
    card('shed 503 / timed out 504', `${fmt.num(s.shed_total)} / ${fmt.num(s.timed_out_total)}`, s.shed_total + s.timed_out_total > 0, 'shed'),
    card('connections', fmt.num(s.connections), false, 'connections'),
    card('memory', fmt.bytes(s.rss_bytes), false, 'rss'),
    card('generation', String(s.generation), false, 'generation'),
    card('uptime', fmt.duration(s.uptime), false, 'uptime'),
  );
}

/** A small area chart of `values` over the history window. */
function renderChart(svg, history, pick, format) {
  const W = 600, H = 140, PAD = 16;
  const values = history.map(pick);
  const max = Math.max(1, ...values) * 1.1;
  const t0 = history.length ? history[0].t : 0;
  const t1 = history.length ? history[history.length - 1].t : 1;
  const x = (t) => (t1 === t0 ? W : ((t - t0) / (t1 - t0)) * W);
  const y = (v) => H - PAD - (v / max) * (H - 2 * PAD);
  const ns = 'http://www.w3.org/2000/svg';
  const parts = [];
  for (const f of [0, 0.5, 1]) parts.push(`<line class="chart-grid" x1="0" x2="${W}" y1="${y(max * f / 1.1)}" y2="${y(max * f / 1.1)}"/>`);
  if (values.length > 1) {
    const line = history.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(values[i]).toFixed(1)}`).join('');
    parts.push(`<path class="chart-area" d="${line}L${W},${H - PAD}L0,${H - PAD}Z"/>`, `<path class="chart-line" d="${line}"/>`);
  }
  parts.push(`<text class="chart-label" x="4" y="12">${format(max / 1.1)}</text>`);
  parts.push(`<text class="chart-label" x="4" y="${H - 3}">${history.length ? `${fmt.duration((t1 - t0) / 1000)} ago` : 'collecting…'}</text>`);
  svg.innerHTML = parts.join('');
  svg.setAttribute('xmlns', ns);
}

function renderChildren(s) {
  const rows = s.children.map((c) => {
    const cls = [!c.responsive ? 'unresponsive' : '', c.generation < s.generation ? 'old-generation' : ''].join(' ').trim();
    const state = c.responsive ? c.state : 'unresponsive';
    return el('tr', { class: cls, 'data-child': String(c.id) },
      el('td', {}, String(c.slot)), el('td', {}, String(c.id)), el('td', {}, String(c.pid)), el('td', {}, c.workers?.length ? c.workers.map((w) => w.pid).join(', ') : String(c.worker_pid ?? '–')),
      el('td', {}, String(c.generation)),
      el('td', {}, el('span', { class: `badge ${c.responsive ? c.state : 'bad'}` }, state)),
      el('td', {}, c.machine_state ?? '–'),
      el('td', {}, fmt.duration(c.uptime)), el('td', {}, fmt.num(c.requests)), el('td', {}, fmt.num(c.concurrent_requests)),
      el('td', {}, fmt.num(c.queued_requests)), el('td', {}, fmt.num(c.requests_per_second)), el('td', {}, fmt.bytes(c.rss_bytes)));
  });
  $('#children tbody').replaceChildren(...rows);
}

function renderFleet(s) {
  const section = $('#fleet-section');
  section.hidden = !s.fleet;
  if (!s.fleet) return;
  const f = s.fleet;
  $('#fleet-name').textContent = `${f.fleet} · this node ${f.node} · ${f.membership}${f.lastError ? ` · ${f.lastError}` : ''}`;
  const rows = f.members.map((m) => el('tr', { 'data-node': m.node, class: m.node === f.node ? 'self' : '' },
    el('td', {}, m.node), el('td', {}, el('span', { class: `badge ${m.state === 'serving' ? 'serving' : m.state === 'reloading' || m.state === 'starting' ? 'warn' : 'bad'}` }, m.state)),
    el('td', {}, String(m.generation)), el('td', {}, `${m.children.ready}/${m.children.configured}`), el('td', {}, fmt.num(m.requestsPerSecond)),
    el('td', {}, fmt.bytes(m.rssBytes)), el('td', {}, String(m.pid)), el('td', {}, m.host), el('td', {}, m.version),
    el('td', {}, `${fmt.duration(Math.max(0, (Date.now() - m.updatedAt) / 1000))} ago`), el('td', {}, m.url)));
  $('#fleet tbody').replaceChildren(...rows);
}

function renderEvents(s) {
  const items = [...s.events].reverse().map((e) => {
    const li = el('li', { 'data-kind': e.kind }, el('time', {}, fmt.time(e.at)), el('span', { class: `badge ${/fail|crash/.test(e.kind) ? 'bad' : e.kind === 'eviction' ? 'warn' : ''}` }, e.kind), ' ', e.message);
    if (e.figures) li.append(el('div', { class: 'figures' }, Object.entries(e.figures).map(([k, v]) => `${k}=${/bytes/.test(k) ? fmt.bytes(v) : v}`).join('  ')));
    if (e.detail) li.append(el('details', {}, el('summary', {}, 'traceback'), el('pre', {}, e.detail)));
    return li;
  });
  $('#events').replaceChildren(...items);
}

function renderConfig(s) {
  const rows = Object.entries(s.config).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, Array.isArray(v) ? v.join(' ') : String(v))));
  $('#config tbody').replaceChildren(...rows);
}

// ---- machine diagrams -------------------------------------------------------

/** @type {Record<string, string>} */
let definitions = {};
/** Diagram panels by key ("controller", "reloader", "status", "child-7"). */
const panels = new Map();
let renderSerial = 0;

async function loadDefinitions() {
  const res = await fetch('/status/machines.json');
  for (const m of await res.json()) definitions[m.name] = m.mermaid;
  mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral', flowchart: { useMaxWidth: true } });
}

/** The SVG node Mermaid drew for state `name` (the `_`-joined path our diagrams use as ids). */
function stateNode(svg, name) {
  return svg.querySelector(`[data-id="${name}"]`) || [...svg.querySelectorAll('g.node, g[id]')].find((g) => new RegExp(`(^|-)state-${name}-\\d+$`).test(g.id)) || null;
}

async function ensurePanel(key, machine, title) {
  if (panels.has(key)) return panels.get(key);
  const panel = { el: el('div', { class: 'machine', 'data-machine': key }, el('h3', {}, title, el('span', { class: 'state' }))), svg: null, active: '' };
  panels.set(key, panel);
  $('#machines').append(panel.el);
  const { svg } = await mermaid.render(`machine-${key}-${++renderSerial}`, definitions[machine]);
  panel.el.insertAdjacentHTML('beforeend', svg);
  panel.svg = panel.el.querySelector('svg');
  return panel;
}

function highlight(panel, states) {
  const key = states.join(' ');
  panel.el.querySelector('.state').textContent = key;
  panel.el.dataset.state = key;
  if (!panel.svg || panel.active === key) return;
  panel.active = key;
  for (const n of panel.svg.querySelectorAll('.active')) n.classList.remove('active');
  for (const name of states) stateNode(panel.svg, name)?.classList.add('active');
}

async function renderMachines(s) {
  const wanted = [['controller', 'controller', 'controller', s.machines.controller]];
  if (s.machines.reloader) wanted.push(['reloader', 'reloader', 'reloader', s.machines.reloader]);
  wanted.push(['status', 'status', 'status service', s.machines.status]);
  for (const c of s.children) wanted.push([`child-${c.id}`, 'child', `child #${c.id} (slot ${c.slot}, pid ${c.pid})`, c.machine_state ? c.machine_state.split(' ') : []]);
  const keep = new Set(wanted.map((w) => w[0]));
  for (const [key, panel] of panels) if (!keep.has(key)) { panel.el.remove(); panels.delete(key); }
  for (const [key, machine, title, states] of wanted) highlight(await ensurePanel(key, machine, title), states);
}

// ---- polling ---------------------------------------------------------------

let configShown = false;

async function poll() {
  try {
    const res = await fetch('/status.json', { cache: 'no-store' });
    const s = await res.json();
    $('#offline').hidden = true;
    $('#version').textContent = `v${s.version}`;
    const health = $('#health');
    health.textContent = s.health;
    health.className = `badge ${s.health}`;
    $('#url').textContent = `${s.url} · pid ${s.pid} · ${s.processes} processes × ${s.threads} threads, ${s.fronts} ${s.fronts === 1 ? 'front' : 'fronts'}`;
    $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.title = `spawning ${s.active_children_count}/${s.configured_children_count} · ${s.health}`;
    renderCards(s);
    renderChart($('#chart-rps'), s.history, (p) => p.rps, (v) => `${fmt.num(v)}/s`);
    renderChart($('#chart-rss'), s.history, (p) => p.rss, fmt.bytes);
    $('#rps-now').textContent = fmt.num(s.requests_per_second);
    $('#rss-now').textContent = fmt.bytes(s.rss_bytes);
    renderChildren(s);
    renderEvents(s);
    renderFleet(s);
    if (!configShown) { renderConfig(s); configShown = true; }
    await renderMachines(s);
    document.body.dataset.generation = String(s.generation);
  } catch (err) {
    $('#offline').hidden = false;
    console.error(err);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

loadDefinitions().then(poll, (err) => { console.error(err); poll(); });
