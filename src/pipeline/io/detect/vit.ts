/**
 * Vision Transformers by their tensor names, as basin's `vit` template:
 * {"template": "vit", "input", "patch", "dim", "depth", "heads", "mlpHidden", "classes", "pool", "eps", "naming"}.
 * timm: patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2},
 * norm / fc_norm, head. Hugging Face ViTForImageClassification: vit.embeddings.*, vit.encoder.layer.N.*,
 * vit.layernorm, classifier. The head count is not in the weights: config.json says it, else timm's
 * and HF's convention of 64-wide heads is assumed (and said).
 */
import { Names, notDetected, type Detection } from './types.ts';

export interface VitHints {
  heads?: number;
  input?: number[];
  /** as the template says it: the class token ('token', timm's global_pool "token") or the mean of the patch tokens */
  pool?: 'token' | 'avg';
  eps?: number;
  /** a name for the report, e.g. the timm model name */
  family?: string;
}

function headsOf(dim: number, hints: VitHints, notes: string[]): number {
  if (hints.heads) return hints.heads;
  if (dim % 64 !== 0) throw notDetected(`a ViT of width ${dim}: its number of attention heads is not in the weights and ${dim} is not a multiple of timm's usual 64-wide heads`);
  notes.push(`heads = ${dim / 64} (width ${dim} / 64: the number of heads is not stored in the weights; set "heads" if the model used another)`);
  return dim / 64;
}

function gridInput(pos: number[] | undefined, prefixTokens: number, channels: number, patch: number, hints: VitHints): number[] {
  if (hints.input) return hints.input;
  const tokens = (pos?.[1] ?? 0) - prefixTokens;
  const grid = Math.round(Math.sqrt(tokens));
  if (!pos || grid * grid !== tokens) throw notDetected(`the position embedding has ${pos?.[1]} tokens, not a square grid${prefixTokens ? ' plus a class token' : ''}`);
  return [channels, grid * patch, grid * patch];
}

export function detectTimmVit(t: Names, hints: VitHints = {}): Detection | undefined {
  const proj = t.shape('patch_embed.proj.weight');
  if (!proj || !t.has('blocks.0.attn.qkv.weight')) return undefined;
  if (t.has('reg_token')) throw notDetected('a timm ViT with register tokens, which the vit template does not have');
  const [dim, channels, patch] = proj;
  const notes: string[] = [];
  const head = t.shape('head.weight');
  if (!head) throw notDetected('a timm ViT without a classifier head (head.weight)');
  const cls = t.has('cls_token');
  const pool = hints.pool ?? (t.has('fc_norm.weight') || !cls ? 'avg' : 'token');
  return {
    architecture: {
      template: 'vit', input: gridInput(t.shape('pos_embed'), cls ? 1 : 0, channels, patch, hints), patch, dim,
      depth: t.indices('blocks.').length, heads: headsOf(dim, hints, notes), mlpHidden: t.shape('blocks.0.mlp.fc1.weight')![0],
      classes: head[0], pool, eps: hints.eps ?? 1e-6, naming: 'timm',
    },
    source: 'tensor names', family: hints.family ?? 'timm ViT', notes,
  };
}

const HF = 'vit.embeddings.';
export function detectHfVit(t: Names, hints: VitHints = {}): Detection | undefined {
  const proj = t.shape(`${HF}patch_embeddings.projection.weight`);
  if (!proj || !t.has('vit.encoder.layer.0.attention.attention.query.weight')) return undefined;
  const [dim, channels, patch] = proj;
  const notes: string[] = [];
  const head = t.shape('classifier.weight');
  if (!head) throw notDetected('a Hugging Face ViT without a classification head (classifier.weight): ViTModel, not ViTForImageClassification');
  return {
    architecture: {
      template: 'vit', input: gridInput(t.shape(`${HF}position_embeddings`), 1, channels, patch, hints), patch, dim,
      depth: t.indices('vit.encoder.layer.').length, heads: headsOf(dim, hints, notes), mlpHidden: t.shape('vit.encoder.layer.0.intermediate.dense.weight')![0],
      classes: head[0], pool: 'token', eps: hints.eps ?? 1e-12, naming: 'hf',
    },
    source: 'tensor names', family: hints.family ?? 'Hugging Face ViTForImageClassification', notes,
  };
}
