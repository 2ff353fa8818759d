import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeIssues, issuesLine, LocalMergeRequest } from '../contracts/index.ts';
import { initBackend } from '../pipeline/runtime/backend.ts';
import { createEngine, type EngineName } from '../pipeline/runtime/engines.ts';
import { EngineError } from '../pipeline/errors.ts';
import { runMerge } from '../pipeline/merge.ts';
import { prepareMerge, type OpenSource } from '../pipeline/prepare.ts';
import { bufferSource } from '../pipeline/io/safetensors.ts';
import { renderReportHtml } from '../pipeline/report/html.ts';
import { nodeHost, writeSafetensorsFile } from '../pipeline/runtime/nodeHost.ts';
import { renderReportSvg } from '../pipeline/report/svg.ts';
import { progressReporter } from './progress.ts';
import { openPath, readStructured, UsageError } from './files.ts';
import { inspect, INSPECT_USAGE } from './inspect.ts';

const USAGE = `usage: basin-merge merge REQUEST.json|REQUEST.yaml [--out DIR] [--engine onnxruntime|tfjs] [--backend NAME[,NAME...]]
       ${INSPECT_USAGE}

merge runs a merge locally (no server): reads the request (the API's merge request, see README.md or
openapi.yaml; models and datasets may also be {"path": ...}, relative to the request file:
safetensors, torch.save files, model folders or archives; "architecture" may be left out to read it
from the checkpoint), writes merged.safetensors, report.json, report.svg and report.html to --out
(default ./out). --engine: the forward passes' engine (default onnxruntime, falling back to tfjs);
--backend: the TensorFlow.js backend order.
inspect shows what basin reads in a checkpoint and the architecture it detects.
Example: basin-merge merge examples/fashion-mlp6x128/request.json --out out/fashion`;

function userFacing(e: unknown): string | undefined {
  if (e instanceof UsageError) return e.message;
  if (e instanceof EngineError) return `${e.code}: ${e.message}`;
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT') return `file_not_found: ${e.message}`;
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        out: { type: 'string', default: 'out' }, backend: { type: 'string' }, engine: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' }, architecture: { type: 'string' }, input: { type: 'string' },
      },
    });
  } catch (e) {
    console.error(`basin: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, requestPath, ...extra] = parsed.positionals;
  if (parsed.values.help || !command) { console.log(USAGE); return command || parsed.values.help ? 0 : 2; }
  if (!['merge', 'inspect'].includes(command) || !requestPath || extra.length) { console.error(`basin: expected "merge REQUEST.json" or "inspect PATH"\n${USAGE}`); return 2; }
  try {
    if (command === 'inspect') return await inspect(requestPath, parsed.values);
    const misplaced = (['json', 'architecture', 'input'] as const).filter((k) => parsed.values[k] !== undefined);
    if (misplaced.length) throw new UsageError(`bad_request: --${misplaced.join(', --')} ${misplaced.length === 1 ? 'is' : 'are'} for inspect, not merge (a merge's architecture goes in its request)`);
    const raw = await readStructured(requestPath);
    const checked = LocalMergeRequest.safeParse(raw);
    if (!checked.success) throw new UsageError(`validation_failed: ${issuesLine(describeIssues(checked.error.issues, raw))}`);
    const request = checked.data;
    const base = dirname(resolve(requestPath));
    const open: OpenSource = async (ref, what) => {
      if ('path' in ref) return openPath(isAbsolute(ref.path) ? ref.path : join(base, ref.path));
      if ('url' in ref) {
        const res = await fetch(ref.url);
        if (!res.ok) throw new UsageError(`input_not_found: ${what}: ${ref.url} answered ${res.status}`);
        return bufferSource(new Uint8Array(await res.arrayBuffer()));
      }
      throw new UsageError(`unsupported_reference: ${what}: the CLI reads {"path"} and {"url"} references; uploads and s3:// objects need the API`);
    };
    const progress = progressReporter();
    const t0 = performance.now();
    const backend = await initBackend({ prefer: parsed.values.backend?.split(','), hasGpuDevice: nodeHost.hasGpuDevice });
    const engines = parsed.values.engine?.split(',').map((s) => s.trim()) as EngineName[] | undefined;
    if (engines?.some((e) => e !== 'onnxruntime' && e !== 'tfjs')) throw new UsageError(`bad_request: --engine takes onnxruntime or tfjs, got "${parsed.values.engine}"`);
    const { engine } = await createEngine({ prefer: engines, threads: nodeHost.threads(), batchSize: request.compute.batchSize });
    const prepared = await prepareMerge(request, open, nodeHost);
    const { merged, report } = await runMerge({
      ...prepared,
      options: request,
      backend: backend.name,
      engine,
      loadSeconds: (performance.now() - t0) / 1000,
      onProgress: (stage, f) => progress.update(stage, f),
    });
    progress.done();
    const arch = report.architecture;
    if (arch && arch.source !== 'request') console.log(`architecture: ${arch.family}, read from ${arch.source} (the report holds it as request JSON)`);
    const out = parsed.values.out!;
    await mkdir(out, { recursive: true });
    await writeSafetensorsFile(join(out, 'merged.safetensors'), merged, {
      format: 'pt', producer: 'basin', variant: report.merged.variant, alpha: String(report.merged.alpha),
    });
    await writeFile(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    await writeFile(join(out, 'report.svg'), renderReportSvg(report));
    await writeFile(join(out, 'report.html'), renderReportHtml(report));
    const v = report.variants;
    const line = (name: string, r?: typeof v.naive) => r && console.log(`${name.padEnd(9)} loss barrier ${r.barrier.loss.max.toFixed(4)}  accuracy barrier ${(100 * r.barrier.accuracy.max).toFixed(2)} pts  acc@0.5 ${(100 * r.accuracy[Math.floor(r.accuracy.length / 2)]).toFixed(2)}%`);
    line('naive', v.naive); line('aligned', v.aligned); line('repaired', v.repaired);
    for (const w of report.warnings) console.error(`warning: ${w}`);
    for (const s of report.siteIssues) console.error(`warning: ${s.code} at alpha ${s.alpha}: ${s.message}`);
    console.log(`wrote ${join(out, 'merged.safetensors')}, report.json, report.svg, report.html (${report.merged.variant} at alpha ${report.merged.alpha}; engine ${report.engine?.name ?? report.backend}; ${report.timings.total.toFixed(1)}s)`);
    return 0;
  } catch (e) {
    const msg = userFacing(e);
    if (msg) { console.error(`basin: ${msg}`); return 2; }
    console.error(`basin: internal error: ${(e as Error).stack ?? e}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
