/** The operator page's styles (system fonts only). */
export const styleCss = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1rem; border-bottom: 1px solid #8884; }
h1 { font-size: 1.3rem; }
h2 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #8883; vertical-align: top; }
td.mono, code { font-family: ui-monospace, monospace; font-size: 12px; }
.state { font-weight: 600; border-radius: 3px; padding: 0 0.3rem; }
.state-done { color: var(--ok); }
.state-accepted, .state-delivered { color: var(--warn); }
.state-failed, .state-expired, .state-refused { color: var(--bad); }
.error { color: var(--bad); }
.help, .muted { color: var(--muted); }
form label { margin-right: 0.8rem; }
textarea { vertical-align: top; font-family: ui-monospace, monospace; }
`;
