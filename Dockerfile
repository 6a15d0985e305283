# One image for every drover process. The API is the default command; the control worker
# (workers/main.ts) and a sub-manager (sub-manager/main.ts) run from the same image with another
# entry file. There is no build step: Node 24 strips the TypeScript types as it loads each file.
#
# No HEALTHCHECK here: only the API listens on a port, so docker-compose.yml checks the API alone.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies are enough at run time: @temporalio/worker, which bundles the workflows
# when a worker starts, is one of them. The only install scripts in the tree (@swc/core, protobufjs)
# merely check things; the lockfile already selects swc's native binary for this platform.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    DROVER_HOME=/var/lib/drover \
    DROVER_API_HOST=0.0.0.0 \
    DROVER_API_PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The code stays owned by root: the process that runs it cannot change it.
COPY package.json ./
COPY domain/ ./domain/
COPY db/ ./db/
COPY workflows/ ./workflows/
COPY activities/ ./activities/
COPY workers/ ./workers/
COPY sub-manager/ ./sub-manager/
COPY api/ ./api/
COPY runtime/ ./runtime/
COPY cli/ ./cli/
COPY kube/ ./kube/
COPY clouds/ ./clouds/
COPY sandbox/ ./sandbox/
# DROVER_HOME is the one place drover writes (the generated admin token); `node` is uid 1000.
RUN mkdir -p /var/lib/drover && chown node:node /var/lib/drover
USER node
EXPOSE 8080
CMD ["node", "--disable-warning=ExperimentalWarning", "api/server.ts"]
