/**
 * Dashboard styles: one dark theme (control rooms at night; phones in the dome), system fonts
 * only. Single column on a phone, two columns from 800 px, a four-column control-room grid from
 * 1400 px. States carry a text label and a glyph as well as a colour.
 *
 * Written as a String.raw template: keep `${` and backticks out of it.
 */
export const styleCss = String.raw`
:root {
  color-scheme: dark;
  --bg: #0d1117;
  --card: #161b22;
  --card-2: #1c2330;
  --line: #30363d;
  --text: #e6edf3;
  --muted: #9da7b3;
  --up: #3fb950;
  --down: #f85149;
  --blackholed: #db61a2;
  --connecting: #d29922;
  --paused: #58a6ff;
  --stopped: #8b949e;
  --unknown: #8b949e;
  --warn: #d29922;
  --crit: #f85149;
  --ok: #3fb950;
  --accent: #58a6ff;
  --ingest: #d2a8ff;
  --forward: #3fb950;
  --on-colour: #0b0f14;
  --radius: 10px;
  --gap: 12px;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", "Liberation Sans", sans-serif;
  font-variant-numeric: tabular-nums;
}
code { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.92em; }
h2 { margin: 0 0 10px; font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); font-weight: 600; }
h3 { margin: 12px 0 6px; font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); font-weight: 600; }
[hidden] { display: none !important; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

/* --- header and banners ------------------------------------------------------------------- */
.top {
  display: flex; flex-wrap: wrap; align-items: center; gap: 6px 16px;
  padding: 10px var(--gap); border-bottom: 1px solid var(--line); background: #010409;
}
.brand { display: flex; align-items: baseline; gap: 10px; min-width: 0; }
.brand-name { font-weight: 700; font-size: 1.1rem; letter-spacing: 0.02em; }
.site { font-size: 1.05rem; color: var(--text); }
.meta { display: flex; flex-wrap: wrap; gap: 4px 14px; color: var(--muted); font-size: 0.85rem; flex: 1 1 auto; min-width: 0; }
.conn { font-size: 0.85rem; padding: 3px 10px; border-radius: 999px; border: 1px solid var(--line); white-space: nowrap; }
.conn-live { color: var(--ok); border-color: var(--ok); }
.conn-connecting { color: var(--warn); border-color: var(--warn); }
.conn-lost { color: var(--on-colour); background: var(--crit); border-color: var(--crit); font-weight: 700; }
.banner {
  position: sticky; top: 0; z-index: 5;
  padding: 10px var(--gap); background: var(--crit); color: var(--on-colour); font-size: 1rem;
}
.banner-warn { position: static; background: var(--warn); }
body.data-stale .grid { opacity: 0.55; filter: grayscale(0.6); }

/* --- grid ------------------------------------------------------------------------------------ */
/* Three column wrappers (a: link, alarms, disk, self-test; b: backlog, instruments, streams;
   c: the rest). Below 1400 px they dissolve (display: contents) and the cards are ordered by
   importance: link, backlog, alarms, disk first. */
.grid { display: grid; grid-template-columns: minmax(0, 1fr); gap: var(--gap); padding: var(--gap); grid-auto-flow: row dense; }
.col { display: contents; }
/* Each card is a size container: link-state type, the backlog numbers and optional table columns follow the card's width. */
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 12px 14px; min-width: 0; container-type: inline-size; }
.card-link { order: 1; }
.card-backlog { order: 2; }
.card-alarms { order: 3; }
.card-disk { order: 4; }
.card-classes { order: 5; }
.card-instruments { order: 6; }
.card-streams { order: 7; }
.card-drops { order: 8; }
.card-host { order: 9; }
.card-selftest { order: 10; }
.card-inputs { order: 11; }
@media (min-width: 800px) {
  .grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .card-link, .card-backlog, .card-instruments, .card-streams { grid-column: 1 / -1; }
}
@media (min-width: 1400px) {
  body { font-size: 16px; }
  .grid { grid-template-columns: minmax(0, 1.2fr) minmax(0, 2fr) minmax(0, 1fr); align-items: start; }
  .col { display: flex; flex-direction: column; gap: var(--gap); min-width: 0; }
  .card-link, .card-backlog, .card-instruments, .card-streams { grid-column: auto; }
}

/* --- link ------------------------------------------------------------------------------------ */
.card-link { border-left-width: 8px; }
.state-up { --state: var(--up); }
.state-down { --state: var(--down); }
.state-blackholed { --state: var(--blackholed); }
.state-connecting { --state: var(--connecting); }
.state-paused { --state: var(--paused); }
.state-stopped { --state: var(--stopped); }
.state-unknown { --state: var(--unknown); }
.card-link { border-left-color: var(--state); }
.link-state-row {
  display: flex; align-items: center; gap: 14px;
  background: var(--state); color: var(--on-colour);
  border-radius: 8px; padding: 6px 16px; margin-bottom: 10px;
}
.link-icon { font-size: 2.2rem; line-height: 1; font-weight: 700; min-width: 1.2em; text-align: center; }
.link-state { font-size: 3rem; line-height: 1.1; font-weight: 800; letter-spacing: 0.02em; }
.link-desc { margin: 0 0 4px; font-size: 1.05rem; }
.link-since { margin: 0 0 10px; color: var(--muted); }
.card-link.state-down .link-state-row, .card-link.state-blackholed .link-state-row { animation: pulse 2s ease-in-out infinite; }
@keyframes pulse { 50% { filter: brightness(1.25); } }
@media (prefers-reduced-motion: reduce) { .card-link .link-state-row, .alarm-new { animation: none !important; } }
@supports (font-size: 1cqi) {
  /* As large as the card allows, by the length of the word: "blackholed" and "connecting" must
     still fit on one line, "up" and "down" can be read from across the control room. */
  .link-state { font-size: clamp(2.25rem, 11.5cqi, 5.5rem); }
  .link-state.len-s { font-size: clamp(2.5rem, 21cqi, 8rem); }
  .link-state.len-m { font-size: clamp(2.25rem, 15cqi, 6.5rem); }
  .link-icon { font-size: clamp(1.8rem, 8cqi, 3.8rem); }
}
@media (min-width: 1400px) { .link-desc { font-size: 1.2rem; } }
.replication { border-top: 1px solid var(--line); margin-top: 8px; padding-top: 6px; }
.more { margin-top: 8px; border-top: 1px solid var(--line); padding-top: 6px; }
.more summary { cursor: pointer; color: var(--muted); font-size: 0.85rem; margin-bottom: 4px; }
.more summary:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }

/* --- key/value lists ------------------------------------------------------------------------- */
.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 12px; margin: 0; font-size: 0.92rem; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.bad { color: var(--crit); font-weight: 700; }
.warn { color: var(--warn); font-weight: 700; }
.good { color: var(--ok); }
.muted { color: var(--muted); }

/* --- backlog numbers and charts ------------------------------------------------------------- */
.bignums { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px; margin-bottom: 10px; }
@container (min-width: 620px) { .bignums { grid-template-columns: repeat(4, minmax(0, 1fr)); } }
.bignum { background: var(--card-2); border-radius: 8px; padding: 8px 10px; display: flex; flex-direction: column; min-width: 0; container-type: inline-size; }
.bignum-label { color: var(--muted); font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em; }
.bignum-value { font-size: 2rem; font-weight: 700; line-height: 1.15; white-space: nowrap; }
.bignum-eta { font-size: 1.6rem; white-space: normal; }
.bignum-unit { color: var(--muted); font-size: 0.85rem; }
@media (min-width: 1400px) { .bignum-value { font-size: 2.6rem; } .bignum-eta { font-size: 2rem; } }
@supports (font-size: 1cqi) {
  .bignum-value.v-mid { font-size: min(2.6rem, 21cqi); }
  .bignum-value.v-long { font-size: min(2.6rem, 15cqi); }
}
.chart-figure { margin: 10px 0 0; }
.chart-caption { color: var(--muted); font-size: 0.8rem; margin-bottom: 4px; }
.chart { width: 100%; min-height: 160px; }
.chart-small { min-height: 110px; }
.chart svg { display: block; }
.chart .grid-line { stroke: var(--line); stroke-width: 1; }
.chart .axis-label { fill: var(--muted); font-size: 11px; }
.chart .backlog-area { fill: rgba(88, 166, 255, 0.22); }
.chart .backlog-line { fill: none; stroke: var(--accent); stroke-width: 2; stroke-linejoin: round; }
.chart .now-dot { fill: var(--accent); }
.chart .now-label { fill: var(--text); font-size: 12px; font-weight: 700; }
.chart .ingest-line { fill: none; stroke: var(--ingest); stroke-width: 2; }
.chart .forward-line { fill: none; stroke: var(--forward); stroke-width: 2; stroke-dasharray: 6 4; }
.chart .empty-label { fill: var(--muted); font-size: 13px; }
.chart .band-up { fill: var(--up); }
.chart .band-down { fill: var(--down); }
.chart .band-blackholed { fill: var(--blackholed); }
.chart .band-connecting { fill: var(--connecting); }
.chart .band-paused { fill: var(--paused); }
.chart .band-stopped, .chart .band-unknown { fill: var(--stopped); }
.chart .shade-down { fill: rgba(248, 81, 73, 0.12); }
.chart .shade-blackholed { fill: rgba(219, 97, 162, 0.14); }
.chart .shade-connecting { fill: rgba(210, 153, 34, 0.10); }
.chart .shade-paused { fill: rgba(88, 166, 255, 0.10); }
.chart .shade-stopped, .chart .shade-unknown { fill: rgba(139, 148, 158, 0.10); }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 4px 0 0; padding: 0; color: var(--muted); font-size: 0.8rem; }
.legend li { display: flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 14px; height: 10px; border-radius: 2px; background: var(--muted); }
.swatch-up { background: var(--up); }
.swatch-down { background: var(--down); }
.swatch-blackholed { background: var(--blackholed); }
.swatch-connecting { background: var(--connecting); }
.swatch-paused { background: var(--paused); }
.swatch-ingest { background: var(--ingest); height: 3px; }
.swatch-forward { height: 0; border-top: 3px dashed var(--forward); background: none; }

/* --- alarms ---------------------------------------------------------------------------------- */
.count { color: var(--text); }
.alarms { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
.alarm { border-radius: 8px; padding: 8px 10px; background: var(--card-2); border-left: 6px solid var(--warn); }
.alarm-critical { border-left-color: var(--crit); }
.alarm-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 10px; }
.sev { font-weight: 800; font-size: 0.8rem; letter-spacing: 0.05em; padding: 1px 8px; border-radius: 4px; color: var(--on-colour); background: var(--warn); }
.alarm-critical .sev { background: var(--crit); }
.alarm-msg { font-weight: 600; }
.alarm-meta { color: var(--muted); font-size: 0.85rem; }
.alarm-ack { font-size: 0.85rem; }
.alarm-new { animation: flash 1s ease-out 3; }
@keyframes flash { 50% { background: #3d1d1d; } }
.none { color: var(--ok); margin: 0; }

/* --- gauge ----------------------------------------------------------------------------------- */
.gauge { margin-bottom: 10px; }
.gauge-bar { position: relative; height: 22px; border-radius: 6px; background: var(--card-2); border: 1px solid var(--line); overflow: hidden; }
.gauge-fill { height: 100%; width: 0; background: var(--ok); }
.gauge-warn .gauge-fill { background: var(--warn); }
.gauge-crit .gauge-fill { background: var(--crit); }
.gauge-text { margin-top: 4px; font-size: 0.95rem; }

/* --- tables ---------------------------------------------------------------------------------- */
.table-wrap { overflow-x: auto; max-width: 100%; }
.table-wrap > p { margin: 0 0 8px; }
table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.04em; padding: 4px 6px; border-bottom: 1px solid var(--line); }
td { padding: 4px 6px; border-bottom: 1px solid #21262d; vertical-align: top; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
td.name { min-width: 7em; }
td { overflow-wrap: break-word; }
tr.row-stale td { background: rgba(210, 153, 34, 0.16); }
td.state-cell { white-space: nowrap; }
tr.row-stale td.state-cell { color: var(--warn); font-weight: 800; }
tr.row-errors td.errors-cell { color: var(--crit); font-weight: 700; }
.tag { display: inline-block; font-size: 0.75rem; padding: 0 6px; border-radius: 4px; border: 1px solid var(--line); color: var(--muted); }
/* Narrow cards (a phone, or a side column of the control-room grid) drop the optional columns. */
.label-short { display: none; }
@container (max-width: 500px) {
  .opt { display: none; }
  .label-long { display: none; }
  .label-short { display: inline; }
  table { font-size: 0.85rem; }
  th { letter-spacing: 0; }
  td, th { padding: 4px 3px; }
}

.foot { color: var(--muted); font-size: 0.8rem; padding: 0 var(--gap) var(--gap); }
`;
