/**
 * The operator page's assets, bundled into the service (no CDN, no web fonts: nothing is
 * downloaded at run time). Served as `index.html` at / and the others at /assets/<name>. Each
 * asset is a string constant in a TypeScript module, so it works the same under tsx and in the
 * esbuild bundle.
 */
import { appJs } from './app.js.ts';
import { indexHtml } from './index.html.ts';
import { styleCss } from './style.css.ts';

export const operatorPage: Record<string, string> = {
  'index.html': indexHtml,
  'app.js': appJs,
  'style.css': styleCss,
};
