import type { OpenAPIHono } from '@hono/zod-openapi';
import { stringify } from 'yaml';
import { webhooks } from './spec.ts';

/** The document served at /openapi.yaml and committed as openapi.yaml (`npm run openapi`). */
export function openApiDocument(app: OpenAPIHono<any>): object {
  for (const w of webhooks) if (!registered.has(app)) app.openAPIRegistry.registerWebhook(w);
  registered.add(app);
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'basin',
      version: '0.1.0',
      description:
        'Serverless model merging: permutation alignment (Git Re-Basin), REPAIR/RESET, interpolation barrier reports. Errors are RFC 9457 application/problem+json with a stable `code`.',
      license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
    },
    // Relative: the API is wherever this document was fetched from (a generated client sets its base URL).
    servers: [{ url: '/', description: 'this API: the origin that serves this document' }],
    // Every operation needs the API key unless it says otherwise (security: []).
    security: [{ bearer: [] }],
  });
}
const registered = new WeakSet<object>();

export function openApiYaml(app: OpenAPIHono<any>): string {
  return stringify(openApiDocument(app), { aliasDuplicateObjects: false, lineWidth: 0 });
}
