/**
 * The dashboard page: a static skeleton that app.js fills from the API with textContent only.
 * Everything it needs is served by the daemon (the site may be offline): no CDN, no web fonts.
 * The Content-Security-Policy makes that a rule the browser enforces: nothing but this origin,
 * no inline script, no inline style attributes.
 *
 * Written as a String.raw template: keep `${` and backticks out of it.
 */
export const indexHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'">
<meta name="color-scheme" content="dark">
<meta name="referrer" content="no-referrer">
<title>Skyhaul</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/style.css">
<script src="assets/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand">
    <span class="brand-name">Skyhaul</span>
    <span class="site" id="site" data-testid="site">&mdash;</span>
  </div>
  <div class="meta" id="meta"></div>
  <div class="conn conn-connecting" id="conn" role="status" aria-live="polite" data-testid="connection">connecting to daemon&hellip;</div>
</header>
<div class="banner" id="disconnected" role="alert" data-testid="disconnected" hidden>
  <strong>Disconnected from daemon</strong> <span id="disconnected-detail">&mdash; reconnecting&hellip;</span>
</div>
<div class="banner banner-warn" id="not-ready" data-testid="not-ready" hidden></div>

<main class="grid" id="grid">
  <div class="col col-a">
    <section class="card card-link state-unknown" id="card-link" aria-labelledby="h-link">
      <h2 id="h-link">Link to Pulsar</h2>
      <div class="link-state-row">
        <span class="link-icon" id="link-icon" aria-hidden="true">?</span>
        <span class="link-state" id="link-state" data-testid="link-state">unknown</span>
      </div>
      <p class="link-desc" id="link-desc">Waiting for the daemon&hellip;</p>
      <p class="link-since" id="link-since" data-testid="link-since"></p>
      <dl class="kv" id="link-details" data-testid="link-details"></dl>
      <dl class="kv replication" id="replication" data-testid="replication" hidden></dl>
      <details class="more" id="link-more">
        <summary>Connection details</summary>
        <dl class="kv" id="link-more-details" data-testid="link-more-details"></dl>
      </details>
    </section>
    <section class="card card-alarms" aria-labelledby="h-alarms">
      <h2 id="h-alarms">Alarms <span class="count" id="alarm-count"></span></h2>
      <ul class="alarms" id="alarms" data-testid="alarms" aria-live="polite"></ul>
    </section>
    <section class="card card-disk" aria-labelledby="h-disk">
      <h2 id="h-disk">Buffer disk</h2>
      <div class="gauge" id="disk-gauge" data-testid="disk-gauge" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" aria-label="Buffer quota used">
        <div class="gauge-bar"><div class="gauge-fill" id="gauge-fill"></div></div>
        <div class="gauge-text" id="gauge-text">&mdash;</div>
      </div>
      <dl class="kv" id="disk-details"></dl>
    </section>
    <section class="card card-selftest" aria-labelledby="h-selftest">
      <h2 id="h-selftest">Self-test</h2>
      <div id="selftest" data-testid="selftest"></div>
    </section>
  </div>
  <div class="col col-b">
    <section class="card card-backlog" aria-labelledby="h-backlog">
      <h2 id="h-backlog">Backlog</h2>
      <div class="bignums">
        <div class="bignum bignum-main">
          <span class="bignum-label">Waiting</span>
          <span class="bignum-value" id="backlog-records" data-testid="backlog-records">&mdash;</span>
          <span class="bignum-unit">records · <span id="backlog-bytes" data-testid="backlog-bytes">&mdash;</span></span>
        </div>
        <div class="bignum">
          <span class="bignum-label">Drain ETA</span>
          <span class="bignum-value bignum-eta" id="drain-eta" data-testid="drain-eta">&mdash;</span>
          <span class="bignum-unit" id="drain-by"></span>
        </div>
        <div class="bignum">
          <span class="bignum-label">Ingest</span>
          <span class="bignum-value" id="ingest-rate" data-testid="ingest-rate">&mdash;</span>
          <span class="bignum-unit">records/s in</span>
        </div>
        <div class="bignum">
          <span class="bignum-label">Forward</span>
          <span class="bignum-value" id="forward-rate" data-testid="forward-rate">&mdash;</span>
          <span class="bignum-unit">records/s out</span>
        </div>
      </div>
      <figure class="chart-figure">
        <figcaption class="chart-caption">Backlog (records waiting) over time, with the link state underneath</figcaption>
        <div class="chart" id="backlog-chart" data-testid="backlog-chart"></div>
        <ul class="legend" id="state-legend" aria-label="Link state colours"></ul>
      </figure>
      <figure class="chart-figure">
        <figcaption class="chart-caption">Ingest and forward rates (records/s)</figcaption>
        <div class="chart chart-small" id="rates-chart" data-testid="rates-chart"></div>
        <ul class="legend">
          <li><span class="swatch swatch-ingest" aria-hidden="true"></span>ingest (solid)</li>
          <li><span class="swatch swatch-forward" aria-hidden="true"></span>forward (dashed)</li>
        </ul>
      </figure>
    </section>
    <section class="card card-instruments" aria-labelledby="h-instruments">
      <h2 id="h-instruments">Instruments <span class="count" id="instrument-count"></span></h2>
      <div class="table-wrap" id="instruments" data-testid="instruments"></div>
    </section>
    <section class="card card-streams" aria-labelledby="h-streams">
      <h2 id="h-streams">Backlog by stream</h2>
      <div class="table-wrap" id="streams" data-testid="streams"></div>
    </section>
  </div>
  <div class="col col-c">
    <section class="card card-classes" aria-labelledby="h-classes">
      <h2 id="h-classes">Backlog by priority</h2>
      <div class="table-wrap" id="classes" data-testid="priority-classes"></div>
    </section>
    <section class="card card-drops" aria-labelledby="h-drops">
      <h2 id="h-drops">Dropped records</h2>
      <div class="table-wrap" id="drops" data-testid="drops"></div>
    </section>
    <section class="card card-host" aria-labelledby="h-host">
      <h2 id="h-host">Host</h2>
      <dl class="kv" id="host" data-testid="host"></dl>
    </section>
    <section class="card card-inputs" aria-labelledby="h-inputs">
      <h2 id="h-inputs">Inputs</h2>
      <div class="table-wrap" id="inputs" data-testid="inputs"></div>
    </section>
  </div>







</main>
<footer class="foot" id="foot">Times are this browser's local time. Live from <code>/api/v1/events</code>.</footer>
</body>
</html>
`;
