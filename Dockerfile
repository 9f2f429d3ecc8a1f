# syntax=docker/dockerfile:1
# StarWeather node image, used by docker-compose.yml. Two stages: the build
# stage has the toolchain (g++, make, python3 for the native addon), the dev
# dependencies and the sources; the runtime stage holds only what runs:
# dist/ without the compiled tests and benchmarks, the production
# dependencies, the addon, and the data files the code reads at run time.
# Node 22 LTS, the version CI builds and tests on (.ci/run; README "Install").
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
# onnxruntime-node's postinstall would download CUDA providers from NuGet; package.json allowScripts
# denies it, but the npm in this image may predate allowScripts, so say it as the package reads it too.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The addon must be there: an image that silently fell back to the TypeScript kernels would be slower than it says.
RUN npm run build \
 && test -f native/build/Release/starweather_kernels.node \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/bench

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    STARWEATHER_DATA_DIR=/var/lib/starweather
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build/Release/starweather_kernels.node ./native/build/Release/
# Read at run time from the source tree's paths (STAC schemas, the catalog snapshot, atmosphere and Dvorak tables, the UNet, the protocol reference served at /api/protocol.md).
COPY --from=build /src/actors/gateway/stac/schemas ./actors/gateway/stac/schemas
COPY --from=build /src/actors/tracker/snapshot ./actors/tracker/snapshot
COPY --from=build /src/actors/tile/physics/data ./actors/tile/physics/data
COPY --from=build /src/actors/tile/model/cloud-unet.onnx ./actors/tile/model/
COPY --from=build /src/protocol/PROTOCOL.md ./protocol/
# The data dir holds the embedded database, the tile cache and a generated key: the node user's alone.
RUN mkdir -p /var/lib/starweather && chown node:node /var/lib/starweather && chmod 700 /var/lib/starweather
USER node
# 8080: the gateway (REST, STAC, websocket, dashboard, /health); 9464: /health and /metrics of a node without the gateway role.
EXPOSE 8080 9464
# Whichever of the two ports this node serves; a degraded node answers 503 and counts as unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "const p=[process.env.STARWEATHER_PORT||8080,process.env.STARWEATHER_NODE_PORT||9464];Promise.any(p.map(x=>fetch('http://127.0.0.1:'+x+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>{if(!r.ok)throw 0}))).then(()=>process.exit(0),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/supervisor/cli.js"]
