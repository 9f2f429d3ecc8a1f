# StarWeather node image, used by docker-compose.yml.
FROM node:20-bookworm
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev
ENTRYPOINT ["node", "dist/supervisor/cli.js"]
