#!/usr/bin/env bash
# Builds .device/ (ignored by git; name it in the device tool's `carry`) for bench/device-check.sh:
# everything a GPU machine with no network needs to time a merge, within the 64 MiB a call carries.
#   node.xz           this machine's Node binary (x86-64 Linux), its symbols stripped, compressed
#   merge.mjs.xz      bench/device-merge.ts and the engine bundled into one file (esbuild), compressed
#   modules.tar.xz    the packages loaded at run time: webgpu (Dawn's dawn.node) with
#                     @tensorflow/tfjs-backend-webgpu, and onnxruntime-node's CPU binaries
#   data/             the Fashion-MNIST calibration (5,000 train) and evaluation (10,000 test) sets
# Usage: bash bench/device-pack.sh   (from the repository root, after npm ci)
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" && { grep -qx '/.device/' "$exclude" 2>/dev/null || echo '/.device/' >> "$exclude"; }
rm -rf .device && mkdir -p .device/data .device/stage/node_modules/@tensorflow
[ "$(uname -m)" = x86_64 ] || { echo "device-pack: the device is x86-64; this machine is $(uname -m)" >&2; exit 2; }
cp "$(readlink -f "$(command -v node)")" .device/node && strip .device/node && xz -T0 -9 .device/node
node_modules/.bin/esbuild bench/device-merge.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile=.device/merge.mjs --external:onnxruntime-node --external:webgpu --external:@tensorflow/tfjs-backend-webgpu \
  --external:@tensorflow/tfjs-backend-wasm --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --banner:js="import { createRequire as __basinRequire } from 'node:module'; const require = __basinRequire(import.meta.url);"
s=.device/stage/node_modules
mkdir -p $s/webgpu/dist $s/@tensorflow/tfjs-backend-webgpu/dist $s/onnxruntime-node/bin/napi-v6/linux
cp node_modules/webgpu/package.json node_modules/webgpu/*.js $s/webgpu/ && cp -r node_modules/webgpu/dist/linux-x64 $s/webgpu/dist/
cp node_modules/@tensorflow/tfjs-backend-webgpu/package.json $s/@tensorflow/tfjs-backend-webgpu/ && cp node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js $s/@tensorflow/tfjs-backend-webgpu/dist/
# its peer tfjs-core must be the bundle's: it resolves @tensorflow/tfjs-core at run time, so carry that package too
# (its Node entry and what that requires; both copies share tfjs's global engine and kernel registry)
mkdir -p $s/@tensorflow/tfjs-core/dist && cp node_modules/@tensorflow/tfjs-core/package.json $s/@tensorflow/tfjs-core/ \
  && cp node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js $s/@tensorflow/tfjs-core/dist/ && cp -r node_modules/seedrandom $s/
cp -r node_modules/onnxruntime-common $s/
cp node_modules/onnxruntime-node/package.json $s/onnxruntime-node/ && cp -r node_modules/onnxruntime-node/dist $s/onnxruntime-node/ && cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 $s/onnxruntime-node/bin/napi-v6/linux/
tar -C .device/stage -cJf .device/modules.tar.xz node_modules && rm -rf .device/stage && xz -T0 -9 .device/merge.mjs
node --import tsx bench/device-data.ts .device/data && xz -T0 -6 .device/data/*.safetensors
du -sh .device/* | sed 's/^/device-pack: /'
# what a device call carries: the tracked and untracked-not-ignored files, plus the carried .device (and .gl)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | awk 'END { print $1 }')
carried=$(du -scb .device $( [ -d .gl ] && echo .gl ) | awk 'END { print $1 }')
total=$((tree + carried))
echo "device-pack: .device$( [ -d .gl ] && echo ' and .gl') $((carried / 1048576)) MiB + the working tree $((tree / 1048576)) MiB = $((total / 1048576)) MiB of the 64 MiB a device call carries"
[ $total -le $((64 * 1048576)) ] || { echo "device-pack: over the device call's 64 MiB" >&2; exit 1; }
