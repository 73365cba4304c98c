# syntax=docker/dockerfile:1
# gptoss-cluster, CPU image: one image for both roles.
#   docker build -t gptoss-cluster:0.1.0 .
#   docker run --rm gptoss-cluster:0.1.0 coordinator --model /models/gpt-oss-20b ...
#   docker run --rm gptoss-cluster:0.1.0 worker --model /models/gpt-oss-20b ...
# onnxruntime-node's CPU build is bundled in its npm package; its install script, which would
# download the CUDA provider, never runs: package.json's allowScripts denies it (npm 11), and
# ONNXRUNTIME_NODE_INSTALL=skip makes it a no-op under the base image's npm 10, which ignores
# allowScripts (see Dockerfile.cuda for the GPU image).
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: every dependency, then tsc -> dist/ ---------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies, dist/ and the gRPC contract --------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# Large allocations (weights, onnxruntime's copies and packed buffers) on transparent huge pages:
# first-touch page faults dominate loading otherwise (q8 engine load 17.9-28.6 s -> 13.2-14.5 s).
# Allocations of 4 MiB and more always mmap'ed, so freed ones go back to the OS: otherwise glibc
# keeps the holes loading leaves (decoded copies, onnxruntime's pre-prepack copies), a worker's
# RSS ~30% above its weights (64 experts: q4x2 2.87 -> 2.01 GB, fp32 8.83 -> 6.72 GB).
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=4194304
WORKDIR /app
RUN groupadd --system --gid 10001 gptoss \
 && useradd --system --uid 10001 --gid gptoss --no-create-home --home-dir /app --shell /usr/sbin/nologin gptoss
COPY package.json package-lock.json ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/cli dist/cli
COPY --from=build /app/dist/common dist/common
COPY --from=build /app/dist/coordinator dist/coordinator
COPY --from=build /app/dist/worker dist/worker
COPY proto proto
USER 10001:10001
# 8000: the coordinator's OpenAI API, /health and /metrics. 50051: a worker's gRPC.
EXPOSE 8000 50051
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["--help"]
