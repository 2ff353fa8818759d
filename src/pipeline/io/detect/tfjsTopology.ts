/**
 * A tfjs LayersModel topology (Keras JSON, Sequential or functional) as a layer graph in the tfjs
 * layout. Keras folds activations into Dense and Conv2D; they become their own layers here. Dropout
 * and noise layers do nothing at inference and are left out; a softmax at the output is dropped
 * (basin scores logits). Anything basin's layer kinds cannot express is refused by name.
 */
import { Names, notDetected, unsupportedArchitecture, type Detection } from './types.ts';

interface KerasLayer { class_name: string; name?: string; config: Record<string, unknown>; inbound_nodes?: unknown }
type Out = Record<string, unknown>;

const INERT = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization', 'InputLayer']);

const pair = (v: unknown, what: string): number => {
  const [a, b] = Array.isArray(v) ? v : [v, v];
  if (typeof a !== 'number' || a !== b) throw unsupportedArchitecture(`${what} ${JSON.stringify(v)} is not square`);
  return a;
};

/** Unwrap model.json's topology to the Keras model config. */
function modelConfig(topology: unknown): { className: string; layers: KerasLayer[]; output?: string } {
  let t = topology as Record<string, unknown>;
  if (t && typeof t === 'object' && 'model_config' in t) t = t.model_config as Record<string, unknown>;
  const className = String(t?.class_name ?? '');
  const config = t?.config as Record<string, unknown> | unknown[] | undefined;
  const layers = (Array.isArray(config) ? config : config?.layers) as KerasLayer[] | undefined;
  if (!Array.isArray(layers)) throw notDetected('model.json has no Keras layer list in modelTopology');
  const outs = !Array.isArray(config) ? (config?.output_layers as unknown[][] | undefined) : undefined;
  if (outs && outs.length !== 1) throw unsupportedArchitecture(`a tfjs model with ${outs.length} outputs`);
  return { className, layers, output: outs?.[0]?.[0] as string | undefined };
}

/** Names of the layers feeding a functional layer (Keras 2 node lists, or Keras 3 keras_history). */
function inboundOf(layer: KerasLayer): string[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || !nodes.length) return [];
  if (nodes.length > 1) throw unsupportedArchitecture(`layer "${layer.name ?? layer.config.name}" is called more than once (shared layers)`);
  const node = nodes[0] as unknown;
  if (Array.isArray(node)) return node.map((n) => String((n as unknown[])[0]));
  const found: string[] = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    const history = (v as { config?: { keras_history?: unknown[] } }).config?.keras_history;
    if (Array.isArray(history)) { found.push(String(history[0])); return; }
    for (const x of Object.values(v)) walk(x);
  };
  walk((node as { args?: unknown }).args);
  return found;
}

export function detectFromTfjsTopology(topology: unknown, t: Names): Detection {
  const { className, layers, output } = modelConfig(topology);
  const functional = className !== 'Sequential';
  const notes: string[] = [];
  const out: Out[] = [];
  const idOf = new Map<string, string>(); // keras layer name -> id of its last basin layer
  let input: number[] | undefined;
  let flat = false;
  let last = '';
  const outputName = output ?? String(layers[layers.length - 1]?.config?.name ?? layers[layers.length - 1]?.name);

  /** The checkpoint prefix of a layer's weights: its name, or the unique longer path that ends in it. */
  const prefix = (name: string, weight: string): string => {
    if (t.has(`${name}/${weight}`)) return name;
    const hits = [...t.tensors.keys()].filter((k) => k.endsWith(`/${name}/${weight}`));
    if (hits.length === 1) return hits[0].slice(0, -(weight.length + 1));
    throw notDetected(`model.json names layer "${name}", but the weights have no "${name}/${weight}"`);
  };
  const activation = (name: string, act: unknown, isOutput: boolean): Out[] => {
    if (act === undefined || act === null || act === 'linear') return [];
    if (act === 'relu' || act === 'gelu') return [{ type: act }];
    if (act === 'softmax' && isOutput) { notes.push(`the softmax of output layer "${name}" is left out: basin scores logits`); return []; }
    throw unsupportedArchitecture(`layer "${name}" uses activation "${String(act)}"; basin has relu and gelu`);
  };

  layers.forEach((layer, index) => {
    const cfg = layer.config ?? {};
    const name = String(cfg.name ?? layer.name ?? `layer${index}`);
    const isOutput = name === outputName;
    const shape = (cfg.batch_input_shape ?? cfg.batch_shape ?? cfg.batchInputShape) as (number | null)[] | undefined;
    if (shape && !input) {
      input = shape.slice(1) as number[];
      if (input.some((d) => typeof d !== 'number')) throw unsupportedArchitecture(`model.json's input shape [${shape.join(', ')}] has unknown sizes`);
    }
    const inbound = functional ? inboundOf(layer) : [];
    const inputs = inbound.map((n) => idOf.get(n) ?? 'input');
    const from = functional && layer.class_name !== 'Add' && inputs.length ? { inputs: inputs.slice(0, 1) } : {};
    const emitted: Out[] = [];
    switch (layer.class_name) {
      case 'Dense':
        emitted.push({ type: 'linear', name: prefix(name, 'kernel'), bias: cfg.use_bias !== false, ...from }, ...activation(name, cfg.activation, isOutput));
        flat = true;
        break;
      case 'Conv2D': {
        if (cfg.data_format && cfg.data_format !== 'channels_last') throw unsupportedArchitecture(`Conv2D "${name}" is ${cfg.data_format}`);
        if (pair(cfg.dilation_rate ?? 1, `Conv2D "${name}" dilation`) !== 1 || (cfg.groups ?? 1) !== 1) throw unsupportedArchitecture(`Conv2D "${name}" is dilated or grouped`);
        const padding = cfg.padding === 'same' ? 'same' : cfg.padding === 'valid' || cfg.padding === undefined ? 0 : undefined;
        if (padding === undefined) throw unsupportedArchitecture(`Conv2D "${name}" has padding "${cfg.padding}"`);
        emitted.push({ type: 'conv2d', name: prefix(name, 'kernel'), stride: pair(cfg.strides ?? 1, `Conv2D "${name}" strides`), padding, bias: cfg.use_bias !== false, ...from }, ...activation(name, cfg.activation, isOutput));
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        if (cfg.padding === 'same') throw unsupportedArchitecture(`${layer.class_name} "${name}" has padding "same"`);
        const kernel = pair(cfg.pool_size ?? 2, `${layer.class_name} "${name}" pool size`);
        emitted.push({ type: layer.class_name === 'MaxPooling2D' ? 'maxpool' : 'avgpool', kernel, stride: pair(cfg.strides ?? kernel, `${layer.class_name} "${name}" strides`), ...from });
        break;
      }
      case 'GlobalAveragePooling2D': emitted.push({ type: 'globalavgpool', ...from }); flat = true; break;
      case 'Flatten': emitted.push({ type: 'flatten', ...from }); flat = true; break;
      case 'BatchNormalization': {
        const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
        if (!(axis.length === 1 && (axis[0] === -1 || axis[0] === 3 || (flat && axis[0] === 1)))) throw unsupportedArchitecture(`BatchNormalization "${name}" normalises axis ${JSON.stringify(cfg.axis)}, not the channels`);
        if (cfg.center === false || cfg.scale === false) throw unsupportedArchitecture(`BatchNormalization "${name}" has no ${cfg.center === false ? 'beta' : 'gamma'}`);
        emitted.push({ type: 'batchnorm', name: prefix(name, 'gamma'), ...(typeof cfg.epsilon === 'number' ? { eps: cfg.epsilon } : {}), ...from });
        break;
      }
      case 'LayerNormalization':
        if (!flat) throw unsupportedArchitecture(`LayerNormalization "${name}" on a feature map normalises each position over its channels; basin's layernorm on a map normalises over (C, H, W)`);
        emitted.push({ type: 'layernorm', name: prefix(name, 'gamma'), ...(typeof cfg.epsilon === 'number' ? { eps: cfg.epsilon } : {}), ...from });
        break;
      case 'Activation': emitted.push(...activation(name, cfg.activation, isOutput)); break;
      case 'ReLU':
        if ((cfg.max_value ?? null) !== null || Number(cfg.negative_slope ?? 0) !== 0 || Number(cfg.threshold ?? 0) !== 0) throw unsupportedArchitecture(`ReLU "${name}" is clipped or leaky`);
        emitted.push({ type: 'relu', ...from });
        break;
      case 'Add': emitted.push({ type: 'add', inputs }); break;
      default:
        if (!INERT.has(layer.class_name)) throw unsupportedArchitecture(`model.json has a ${layer.class_name} layer ("${name}"), which basin's layer kinds do not express`);
        if (layer.class_name !== 'InputLayer') notes.push(`${layer.class_name} "${name}" is left out (it does nothing at inference)`);
    }
    if (!emitted.length && functional && inputs.length === 1 && layer.class_name !== 'InputLayer') {
      // a layer that emits nothing (dropout, a linear activation) passes its input through
      idOf.set(name, inputs[0]);
      return;
    }
    if (emitted.length) {
      // the Keras name identifies the layer's output: the weight layer's own id when it is the last
      // one emitted, else set on the last one (a Dense's relu is "<name>#out")
      const lastOut = emitted[emitted.length - 1];
      if (functional && lastOut.name !== name) lastOut.id = emitted.some((l) => l.name === name) ? `${name}#out` : name;
      out.push(...emitted);
      const id = String(lastOut.id ?? lastOut.name ?? '');
      idOf.set(name, id);
      last = id;
    } else if (layer.class_name === 'InputLayer') idOf.set(name, 'input');
  });
  if (!input) throw notDetected('model.json gives no input shape (batch_input_shape)');
  if (input.length === 2) throw unsupportedArchitecture(`a tfjs model with a 2-D input [${input.join(', ')}]`);
  if (!out.length) throw notDetected('model.json has no layers with weights');
  const result: Record<string, unknown> = { layout: 'tfjs', input, layers: out };
  const outId = idOf.get(outputName);
  if (outId && outId !== last) result.output = outId;
  return { architecture: result, source: 'model.json', family: `tfjs ${className || 'LayersModel'} (${layers.length} Keras layers)`, notes };
}
