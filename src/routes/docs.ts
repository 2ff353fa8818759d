import type { Hono } from 'hono';
import { problem } from './problem.ts';

/** The Swagger UI files the docs page loads, all from the pinned swagger-ui-dist package. */
export const DOCS_FILES = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
} as const;
export type DocsFile = keyof typeof DOCS_FILES;

/**
 * How the entry point reaches those files: Node reads node_modules (docsAssets.node.ts), the Worker
 * its static-assets binding (wrangler.toml). Undefined when the file is not there.
 */
export type DocsAssets = (file: DocsFile) => Promise<Uint8Array | ReadableStream<Uint8Array> | undefined>;

// Relative URLs throughout: the page works wherever the API is mounted, on whatever port.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>basin API</title><link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script><script src="docs/init.js"></script></body></html>
`;
// A file, not an inline script, so the page's CSP needs no 'unsafe-inline' for scripts.
const INIT = `window.ui = SwaggerUIBundle({ url: 'openapi.yaml', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });
`;
// Swagger UI injects styles and renders SVG icons from data: URLs; everything else is this origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `/docs`: Swagger UI on openapi.yaml, served by the API itself (no CDN: it works offline and
 * always shows the pinned version). "Try it out" calls the origin the page came from.
 */
export function mountDocs(app: Hono<any>, assets: DocsAssets | undefined): void {
  const secure = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' };
  app.get('/docs', (c) => c.html(PAGE, 200, secure));
  app.get('/docs/init.js', (c) => c.body(INIT, 200, { 'content-type': 'text/javascript; charset=utf-8', ...secure }));
  for (const [file, type] of Object.entries(DOCS_FILES) as [DocsFile, string][]) {
    app.get(`/docs/${file}`, async (c) => {
      const body = await assets?.(file);
      if (body === undefined) return problem(c, 404, 'not_found', `${file} is not available here (swagger-ui-dist is not installed)`);
      // the package version is pinned, so a day's caching cannot show a stale UI for long
      return c.body(body as never, 200, { 'content-type': type, 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' });
    });
  }
}
