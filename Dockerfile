# StarWeather node image, used by docker-compose.yml.
FROM node:20-bookworm
WORKDIR /app
COPY package.json package-lock.json ./
# onnxruntime-node's postinstall would download CUDA providers from NuGet; package.json allowScripts
# denies it, but the npm in this image may predate allowScripts, so say it as the package reads it too.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev
ENTRYPOINT ["node", "dist/supervisor/cli.js"]
