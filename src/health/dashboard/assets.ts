/**
 * Dashboard assets, bundled into the daemon (the site may be offline: no CDN, no web fonts).
 * The server serves 'index.html' at / and the others at /assets/<name>. Each asset is a string
 * constant in a TypeScript module, so it works the same under tsx and in the esbuild bundle.
 */
import { appJs } from './app.js.ts';
import { indexHtml } from './index.html.ts';
import { styleCss } from './style.css.ts';

export const dashboardAssets: Record<string, string> = {
  'index.html': indexHtml,
  'app.js': appJs,
  'style.css': styleCss,
};
