import { spawnSync } from 'node:child_process';
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
      ['/healthz', '/merge', '/v1/hooks/training-run', '/v1/merges', '/v1/merges/{id}', '/v1/merges/{id}/report', '/v1/merges/{id}/report.svg', '/v1/merges/{id}/report.html', '/v1/merges/{id}/weights', '/v1/uploads'].sort(),
    );
    expect(Object.keys(doc.webhooks).sort()).toEqual(['merge.failed', 'merge.succeeded']);
    expect(doc.paths['/v1/merges'].post.responses['422'].content['application/problem+json']).toBeDefined();
    expect(doc.components.schemas.MergeRequest.additionalProperties).toBe(false);
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
  });

  it('is usable wherever it is served: relative server, key required unless an operation is public', () => {
    const doc = parse(committedSpec());
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    for (const w of Object.values(doc.webhooks) as Array<{ post: { security: unknown } }>) expect(w.post.security).toEqual([]);
    expect(doc.paths['/v1/merges/{id}'].get.security).toEqual([{ bearer: [] }]);
  });

  it('types the weights link and keys alignment options on the method', () => {
    const doc = parse(committedSpec());
    const weights = doc.paths['/v1/merges/{id}/weights'].get.responses;
    expect(weights['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/WeightsLink');
    expect(weights['302']).toBeDefined();
    const alignment = doc.components.schemas.Alignment;
    expect(alignment.discriminator.propertyName).toBe('method');
    expect(Object.keys(alignment.discriminator.mapping).sort()).toEqual(['activation', 'none', 'sinkhorn', 'ste', 'weight']);
    expect(doc.components.schemas.WeightAlignment.properties.maxSteps).toBeUndefined();
    expect(doc.components.schemas.SteAlignment.properties.maxSteps).toBeDefined();
    expect(doc.components.schemas.SteAlignment.properties.temperature).toBeUndefined();
    for (const m of ['Weight', 'Activation', 'Ste', 'Sinkhorn', 'None']) expect(doc.components.schemas[`${m}Alignment`].required).toContain('method');
  });

  it('passes `redocly lint` with the recommended rules: no errors, no warnings', () => {
    const r = spawnSync(process.execPath, ['node_modules/@redocly/cli/bin/cli.js', 'lint', '--extends=recommended', '--format=json', SPEC_PATH.pathname], {
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      timeout: 120_000,
    });
    const json = r.stdout.slice(r.stdout.indexOf('{'));
    const result = JSON.parse(json) as { totals: { errors: number; warnings: number }; problems: Array<{ message: string; ruleId: string }> };
    expect(result.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(result.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(r.status).toBe(0);
  });
});
