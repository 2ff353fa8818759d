# The GPU runner image: CUDA + cuDNN, Node 20, and basin with @tensorflow/tfjs-node-gpu (libtensorflow
# with CUDA, downloaded by its install script, so build where storage.googleapis.com is reachable).
#
#   docker build -t basin-runner .
#   docker run --gpus all -p 8788:8788 -e DATABASE_URL=postgres://... -e BASIN_S3_ENDPOINT=... \
#     -e BASIN_S3_ACCESS_KEY_ID=... -e BASIN_S3_SECRET_ACCESS_KEY=... -e BASIN_BUCKET=... basin-runner
#
# tfjs-node-gpu 4.22 runs libtensorflow 2.9 (CUDA 11.2, cuDNN 8). The runner's /healthz and every
# report name the backend in use; without a usable GPU the chain falls back to wasm, never to wrong numbers.
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

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
 && npm cache clean --force
COPY src ./src
COPY examples ./examples

ENV NODE_ENV=production RUNNER_HOST=0.0.0.0 RUNNER_PORT=8788
EXPOSE 8788
USER node
CMD ["node", "--import", "tsx", "src/gpu-runner/main.ts"]
