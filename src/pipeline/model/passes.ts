import * as tf from '@tensorflow/tfjs-core';
import { batches, type Dataset } from '../io/datasets.ts';
import { forward, inputTensor, loadModel, lossAndCorrect, type EngineModel, type ForwardOptions } from './forward.ts';
import type { ModelGraph } from './graph.ts';
import type { StateDict } from './tensor.ts';

/** Load a checkpoint onto the backend for the length of `fn`, then free it. */
export function withModel<T>(graph: ModelGraph, state: StateDict, fn: (model: EngineModel) => T): T {
  const model = loadModel(graph, state);
  try {
    return fn(model);
  } finally {
    model.dispose();
  }
}

/** Run over a dataset in bounded batches; `each` gets the input tensor (freed afterwards). */
export function forEachBatch(graph: ModelGraph, data: Dataset, batchSize: number, each: (x: tf.Tensor, labels: Int32Array) => void, signal?: AbortSignal): void {
  for (const batch of batches(data, batchSize)) {
    signal?.throwIfAborted();
    const x = inputTensor(graph, batch.x, batch.n);
    try {
      each(x, batch.y);
    } finally {
      x.dispose();
    }
  }
}

/** Run a model over a dataset with wrappers, discarding the outputs. */
export function runPass(model: EngineModel, data: Dataset, batchSize: number, options: ForwardOptions, signal?: AbortSignal): void {
  forEachBatch(model.graph, data, batchSize, (x) => forward(model, x, options).dispose(), signal);
}

export interface Evaluation { loss: number; accuracy: number }

/** Mean cross-entropy and accuracy on a labelled dataset. */
export function evaluate(graph: ModelGraph, state: StateDict, data: Dataset, batchSize: number, signal?: AbortSignal): Evaluation {
  return withModel(graph, state, (model) => {
    let lossSum = 0;
    let correct = 0;
    forEachBatch(graph, data, batchSize, (x, labels) => {
      const logits = forward(model, x);
      const r = lossAndCorrect(logits, labels);
      logits.dispose();
      lossSum += r.lossSum;
      correct += r.correct;
    }, signal);
    return { loss: lossSum / data.n, accuracy: correct / data.n };
  });
}
