/** The operator page's HTML: no inline script or style (the Content-Security-Policy forbids them). */
export const indexHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Skyhaul governance</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<header>
  <h1>Skyhaul governance</h1>
  <form id="signin-form" autocomplete="off">
    <label>Token <input id="token" type="password" size="40" placeholder="bearer token"></label>
    <button id="signin" type="submit">Sign in</button>
    <button id="signout" type="button" hidden>Sign out</button>
  </form>
  <p id="whoami" aria-live="polite">Not signed in.</p>
</header>
<main>
  <p id="error" class="error" role="alert" hidden></p>
  <section>
    <h2>Sites</h2>
    <table id="sites">
      <thead><tr><th>Site</th><th>Last report</th><th>Link</th><th>Backlog</th><th>Bandwidth</th><th>Alarms</th><th>Last command</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="send-section" hidden>
    <h2>Send a command</h2>
    <form id="send-form" autocomplete="off">
      <label>Site <select id="send-site"></select></label>
      <label>Command <select id="send-command"></select></label>
      <label>Parameters (JSON) <textarea id="send-params" rows="3" cols="50">{}</textarea></label>
      <label>TTL <input id="send-ttl" value="10m" size="6"></label>
      <button id="send-button" type="submit">Send</button>
    </form>
    <p id="send-help" class="help"></p>
    <p id="send-result" aria-live="polite"></p>
  </section>
  <section>
    <h2>Commands</h2>
    <table id="commands">
      <thead><tr><th>Updated</th><th>Site</th><th>Command</th><th>Parameters</th><th>Operator</th><th>State</th><th>Detail</th><th>Id</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;
