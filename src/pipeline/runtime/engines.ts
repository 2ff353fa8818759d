import type { ForwardEngine } from './engine.ts';
import { ortEngine } from './ortEngine.ts';
import { tfjsEngine } from './tfjsEngine.ts';

export type EngineName = 'onnxruntime' | 'tfjs';
export interface EngineChoice { engine: ForwardEngine; tried: { name: EngineName; ok: boolean; reason?: string }[] }

/** Default activations budget of one ONNX Runtime pass (BASIN_MEMORY_MB). */
export const DEFAULT_MEMORY_MB = 2048;

/**
 * The forward engine, best first: ONNX Runtime, then TensorFlow.js on the backend initBackend
 * chose (call that first). `prefer` (or BASIN_ENGINE, a comma list) names the order. ONNX Runtime
 * must load and pass its smoke test; tfjs always can.
 */
export async function createEngine(options: { prefer?: EngineName[]; threads: number; batchSize: number; memoryMB?: number }): Promise<EngineChoice> {
  const env = process.env.BASIN_ENGINE?.split(',').map((s) => s.trim()).filter(Boolean) as EngineName[] | undefined;
  const order = options.prefer ?? (env?.length ? env : ['onnxruntime', 'tfjs']);
  const memory = Number(process.env.BASIN_MEMORY_MB);
  const memoryMB = options.memoryMB ?? (Number.isFinite(memory) && memory > 0 ? memory : DEFAULT_MEMORY_MB);
  const tried: EngineChoice['tried'] = [];
  for (const name of order) {
    try {
      if (name === 'onnxruntime') {
        const providers = process.env.BASIN_ORT_PROVIDERS?.split(',').map((s) => s.trim()).filter(Boolean);
        const engine = await ortEngine({ threads: options.threads, memoryMB, providers });
        tried.push({ name, ok: true });
        return { engine, tried };
      }
      if (name === 'tfjs') {
        tried.push({ name, ok: true });
        return { engine: tfjsEngine(options.batchSize), tried };
      }
      throw new Error(`unknown engine "${String(name)}"; there are onnxruntime and tfjs`);
    } catch (e) {
      tried.push({ name, ok: false, reason: (e as Error).message.split('\n')[0] });
    }
  }
  throw new Error(`no usable forward engine: ${tried.map((t) => `${t.name} (${t.reason})`).join('; ')}`);
}
