import { readFile } from 'node:fs/promises';
import openapiTS, { astToString } from 'openapi-typescript';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { committedSpec, SPEC_PATH } from '../../src/routes/openapi-main.ts';

describe('openapi.yaml', () => {
  it('matches the routes (run `npm run openapi` after changing a schema)', async () => {
    expect(await readFile(SPEC_PATH, 'utf8')).toBe(committedSpec());
  });

  it('the generated client types match openapi.yaml', async () => {
    const generated = await readFile(new URL('../../src/contracts/openapi.gen.ts', import.meta.url), 'utf8');
    expect(generated.endsWith(astToString(await openapiTS(SPEC_PATH)))).toBe(true);
  });

  it('documents every route of DESIGN 3, problem responses and the outbound webhooks', () => {
    const doc = parse(committedSpec());
    expect(Object.keys(doc.paths).sort()).toEqual(
      ['/healthz', '/merge', '/v1/hooks/training-run', '/v1/merges', '/v1/merges/{id}', '/v1/merges/{id}/report', '/v1/merges/{id}/report.svg', '/v1/merges/{id}/weights', '/v1/uploads'].sort(),
    );
    expect(Object.keys(doc.webhooks).sort()).toEqual(['merge.failed', 'merge.succeeded']);
    expect(doc.paths['/v1/merges'].post.responses['422'].content['application/problem+json']).toBeDefined();
    expect(doc.components.schemas.MergeRequest.additionalProperties).toBe(false);
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
  });
});
