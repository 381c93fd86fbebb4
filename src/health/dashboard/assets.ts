/** Dashboard assets, bundled into the daemon (the site may be offline: no CDN). */
export const dashboardAssets: Record<string, string> = {
  'index.html': '<!doctype html><html><head><meta charset="utf-8"><title>Skyhaul</title></head><body><h1>Skyhaul</h1><p>Dashboard placeholder.</p></body></html>',
};
