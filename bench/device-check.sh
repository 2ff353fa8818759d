#!/usr/bin/env bash
# The GPU device check: one merge of each example pair (the VGG pair and the ViT pair) on the best
# backend found, stage timings printed. Made for a lent GPU machine that reaches
# nothing outside: it installs nothing, and runs from what bench/device-pack.sh put in .device/.
#
# Here, once:   bash bench/device-pack.sh      (and, for Vulkan, the loaders into .gl/: see README)
# There:        run(command="bash bench/device-check.sh", carry=[".device", ".gl"], timeout_s=540)
# Anywhere:     bash bench/device-check.sh --dry-run   checks the pack and the GPU, merges nothing
#
# Candidates, best first: TensorFlow.js on WebGPU (Dawn over Vulkan: the GPU path that needs no
# download), then ONNX Runtime on the CPU cores as the baseline. Exit 0 with "no GPU" where there is none.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0; [ "${1:-}" = --dry-run ] && dry=1
say() { echo "device-check: $*"; }
packed() { [ -f .device/merge.mjs.xz ] && [ -f .device/node.xz ] && [ -f .device/modules.tar.xz ] && ls .device/data/*.xz >/dev/null 2>&1; }

node=$(command -v node || true)
if ! packed; then
  [ -n "$node" ] || { say "no pack in .device/ and no node: run bash bench/device-pack.sh first"; exit 2; }
elif [ -z "$node" ] || ! "$node" -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)' 2>/dev/null; then
  mkdir -p /tmp/basin-node && xz -dc .device/node.xz > /tmp/basin-node/node && chmod +x /tmp/basin-node/node && node=/tmp/basin-node/node
fi
say "node $("$node" --version) at $node; $(nproc) CPU cores"

gpu=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=$(nvidia-smi -L | head -1)
elif ls /dev/nvidia[0-9]* >/dev/null 2>&1; then gpu="an NVIDIA device node ($(ls /dev/nvidia[0-9]* | head -1))"
elif [ -d /dev/dri ]; then gpu="a DRM device (/dev/dri)"; fi
if [ -z "$gpu" ]; then
  say "no GPU on this machine (no nvidia-smi device, /dev/nvidia*, or /dev/dri): nothing to time here"
  packed && say "the pack in .device/ is ready to carry" || say "no pack in .device/ yet: run bash bench/device-pack.sh before a device call"
  exit 0
fi
say "GPU: $gpu"
packed || { say "no pack in .device/: run bash bench/device-pack.sh here first, and carry .device"; exit 2; }

# Vulkan loaders (README: downloaded here into .gl/, carried), and the driver's ICD where the image keeps it
if ls .gl/*.deb >/dev/null 2>&1; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
ldconfig -p | grep -q libvulkan || say "no libvulkan on this machine (carry .gl): WebGPU will be skipped"

work=/tmp/basin-device && rm -rf $work && mkdir -p $work/data && tar -C $work -xJf .device/modules.tar.xz && xz -dc .device/merge.mjs.xz > $work/merge.mjs
for f in .device/data/*.xz; do xz -dc "$f" > "$work/data/$(basename "$f" .xz)"; done
if [ $dry = 1 ]; then say "dry run: pack unpacked into $work; no merge run"; exit 0; fi

pairs=fashion-vgg
for d in examples/*vit*/; do [ -f "$d/seed1.safetensors" ] && pairs="$pairs,$(basename "$d")"; done
say "merging $pairs (weight matching + REPAIR/RESET + 11-point sweep, 10,000 test images, 5,000 calibration)"
BASIN_THREADS=${BASIN_THREADS:-$(nproc)} "$node" $work/merge.mjs --data $work/data --examples examples --pairs "$pairs" \
  --candidates "${BASIN_DEVICE_CANDIDATES:-tfjs:webgpu,onnxruntime:cpu}" | tee /tmp/basin-device/results.jsonl
[ -n "${OUT:-}" ] && cp /tmp/basin-device/results.jsonl "$OUT/" || true
