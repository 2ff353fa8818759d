/**
 * What one sample of a node's output is, whatever the checkpoint layout: flat features [D], a
 * feature map C x H x W, or a token sequence T x D. In the engine every one is features last
 * ([N, D], [N, H, W, C], [N, T, D]); that last axis is the one permutations, REPAIR statistics and
 * activation taps act on (`featuresOf`), every other axis is a position (`positionsOf`).
 */
export type FeatureShape =
  | { kind: 'flat'; features: number }
  | { kind: 'map'; channels: number; height: number; width: number }
  | { kind: 'tokens'; tokens: number; features: number };

export const flat = (features: number): FeatureShape => ({ kind: 'flat', features });
export const featureMap = (channels: number, height: number, width: number): FeatureShape => ({ kind: 'map', channels, height, width });

/** Size of the feature axis: what a permutation of this output permutes. */
export function featuresOf(s: FeatureShape): number {
  return s.kind === 'map' ? s.channels : s.features;
}

/** Values per feature in one sample: 1, H*W or T. */
export function positionsOf(s: FeatureShape): number {
  return s.kind === 'flat' ? 1 : s.kind === 'map' ? s.height * s.width : s.tokens;
}

export const sizeOf = (s: FeatureShape): number => featuresOf(s) * positionsOf(s);

/** One sample in the engine's order (features last), without the batch axis. */
export function engineDims(s: FeatureShape): number[] {
  return s.kind === 'flat' ? [s.features] : s.kind === 'map' ? [s.height, s.width, s.channels] : [s.tokens, s.features];
}

/** As messages show shapes: channel first, as PyTorch users write them. */
export function describeShape(s: FeatureShape): string {
  return s.kind === 'flat' ? `[${s.features}]` : s.kind === 'map' ? `[${s.channels}, ${s.height}, ${s.width}]` : `[${s.tokens} tokens, ${s.features}]`;
}

export function sameShape(a: FeatureShape, b: FeatureShape): boolean {
  const [da, db] = [engineDims(a), engineDims(b)];
  return a.kind === b.kind && da.every((d, i) => d === db[i]);
}

/** One sample's dimensions, channels first (maps [C, H, W]; flat [D]; tokens [T, D]). */
export function onnxDims(shape: FeatureShape): number[] {
  return shape.kind === 'flat' ? [shape.features] : shape.kind === 'map' ? [shape.channels, shape.height, shape.width] : [shape.tokens, shape.features];
}
