# The GPU runner image: CUDA + cuDNN, Node 20, and basin with @tensorflow/tfjs-node-gpu (libtensorflow
# with CUDA, downloaded by its install script, so build where storage.googleapis.com is reachable).
#
#   docker build -t basin-runner .
#   docker run --gpus all -p 8788:8788 -e DATABASE_URL=postgres://... -e BASIN_S3_ENDPOINT=... \
#     -e BASIN_S3_ACCESS_KEY_ID=... -e BASIN_S3_SECRET_ACCESS_KEY=... -e BASIN_BUCKET=... basin-runner
#
# tfjs-node-gpu 4.22 runs libtensorflow 2.9 (CUDA 11.2, cuDNN 8). The runner's /healthz and every
# report name the backend in use; without a usable GPU the chain falls back to wasm, never to wrong numbers.
#
# ONNX Runtime (the forward engine): onnxruntime-node's CPU binaries ship in the npm package; its CUDA
# provider is downloaded by the package's install script, which package.json denies (allowScripts), so
# this build runs that script itself (ONNXRUNTIME_NODE_INSTALL=cuda12) and the runner asks for
# BASIN_ORT_PROVIDERS=cuda,cpu. That provider needs CUDA 12 and cuDNN 9 at run time, which this CUDA
# 11.2 image does not hold: build with --build-arg ORT_CUDA=1 on a CUDA 12 base (BASE=...), where
# tfjs-node-gpu then finds no CUDA 11 and tfjs falls back as above. Not built or run here (no GPU, no
# network): an unusable provider fails the engine's smoke test and the runner falls back to the CPU.
ARG BASE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
FROM ${BASE}
ARG ORT_CUDA=0

ARG NODE_VERSION=20.20.2
ENV DEBIAN_FRONTEND=noninteractive \
    # Vulkan for the WebGPU candidate (Dawn); the NVIDIA container toolkit mounts the driver's ICD
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils libvulkan1 python3 make g++ \
 && curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" | tar -xJ -C /usr/local --strip-components=1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# optional dependencies included: tfjs-node-gpu must install here, so a failed download fails the build
RUN npm ci --no-audit --no-fund --omit=dev \
 && ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node \
 && if [ "$ORT_CUDA" = 1 ]; then (cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js) \
      && ls node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime_providers_cuda.so; fi \
 && npm cache clean --force
COPY src ./src
COPY examples ./examples

ENV NODE_ENV=production RUNNER_HOST=0.0.0.0 RUNNER_PORT=8788
# with ORT_CUDA=1: ENV BASIN_ORT_PROVIDERS=cuda,cpu (set at docker run: -e BASIN_ORT_PROVIDERS=cuda,cpu)
EXPOSE 8788
USER node
CMD ["node", "--import", "tsx", "src/gpu-runner/main.ts"]
