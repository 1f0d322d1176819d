# syntax=docker/dockerfile:1
# Earshot server image: the compiled server and web client, production dependencies only, the default models in a
# layer of their own. Build: docker build -t earshot .   Run: docker run -p 8000:8000 earshot
# (not built on the project's machines, which have no container runtime: see docs/deploy.md).

ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Everything, to compile src/ → dist/ and web/ → web/dist. Scripts off: the build runs below, once.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY src src
COPY web web
RUN npm run build

# 2. Production dependencies, without what only the build needs and without onnxruntime-node's binaries for other
#    platforms (288 MB of which one platform's ~45 MB is used).
FROM ${NODE_IMAGE} AS runtime-deps
ARG TARGETARCH=amd64
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev --ignore-scripts \
 && rm -rf node_modules/typescript node_modules/@typescript node_modules/vite node_modules/rollup node_modules/@rollup \
      node_modules/esbuild node_modules/@esbuild \
 && arch="$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)" \
 && cd node_modules/onnxruntime-node/bin/napi-v6 \
 && find . -mindepth 2 -maxdepth 2 -type d ! -path "./linux/$arch" -exec rm -rf {} + \
 && rm -rf darwin win32 \
 && npm cache clean --force

# 3. The default models (Moonshine tiny and base, Silero VAD), checked by sha256, into /models.
FROM runtime-deps AS models
COPY --from=build /app/dist dist
COPY bin bin
RUN EARSHOT_MODELS_DIR=/models node bin/earshot.js models pull --default

# 4. What runs: non-root, models in their own layer (they change far less often than the code).
FROM ${NODE_IMAGE}
# The memory settings `npm start` uses (docs/decisions/0012-memory-settings.md): two glibc arenas, big buffers given back when freed, a 1 MB young generation.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=4194304 \
    MALLOC_TRIM_THRESHOLD_=67108864 \
    NODE_OPTIONS=--max-semi-space-size=1 \
    EARSHOT_HOST=0.0.0.0 \
    EARSHOT_PORT=8000 \
    EARSHOT_MODELS_DIR=/models
WORKDIR /app
COPY --from=models --chown=node:node /models /models
COPY --from=runtime-deps /app/node_modules node_modules
COPY package.json ./
COPY bin bin
COPY --from=build /app/dist dist
COPY --from=build /app/web/dist web/dist
USER node
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.EARSHOT_PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains (sessions close after their next final, at most EARSHOT_DRAIN_SECONDS, 30 s): give the runtime
# that long before SIGKILL, e.g. docker stop -t 40.
STOPSIGNAL SIGTERM
CMD ["node", "bin/earshot.js", "serve"]
