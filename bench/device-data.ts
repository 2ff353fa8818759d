/** Writes the Fashion-MNIST calibration (5,000 train) and evaluation (10,000 test) sets as dataset files (uint8 x, int32 y) into DIR, for bench/device-pack.sh. */
import { join } from 'node:path';
import { loadBuiltin, type Dataset } from '../src/pipeline/io/datasets.ts';
import { nodeHost, writeSafetensorsFile } from '../src/pipeline/runtime/nodeHost.ts';

const dir = process.argv[2] ?? '.device/data';
const write = (name: string, ds: Dataset) => writeSafetensorsFile(join(dir, `${name}.safetensors`), new Map([
  ['x', { kind: 'int', dtype: 'U8', shape: [ds.n, ...ds.sampleShape], bytes: Uint8Array.from(ds.x, (v) => Math.round(v * 255)) }],
  ['y', { kind: 'int', dtype: 'I32', shape: [ds.n], bytes: new Uint8Array(Int32Array.from(ds.y).buffer) }],
]));
await write('calibration', await loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'train', 5000));
await write('evaluation', await loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'test'));
