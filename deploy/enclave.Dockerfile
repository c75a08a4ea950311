# The enclave image for AWS Nitro Enclaves (README, "Running on AWS Nitro Enclaves").
#
#   docker buildx build -f deploy/enclave.Dockerfile -t http-enclave-enclave . (from the repository root)
#   nitro-cli build-enclave --docker-uri http-enclave-enclave:latest --output-file http-enclave.eif
#
# or deploy/build-enclave.sh, which does both with the reproducibility settings below.
#
# Everything in the final stage is measured: nitro-cli turns this image (files,
# ENV, CMD) into the enclave image file, and PCR0 is the hash of that file.
# Anyone must be able to rebuild it from the same commit and get the same
# PCR0, so:
#
# - The base image is pinned by digest, never by tag (a tag moves every week).
#   Node 24 LTS (Node 20 reached end of life on 2026-04-30). The digest
#   below is node:24-bookworm-slim as pinned, with Node 24.18.0, in public
#   build files found while writing this (it was not pulled here: this
#   machine has no registry access). Check it, or move to a newer one (this
#   changes every PCR; do it on purpose, for security updates), with:
#     docker buildx imagetools inspect node:24-bookworm-slim
#   and use the "Digest:" line of its output in BOTH FROM lines.
# - Dependencies come from package-lock.json through `npm ci` (exact versions
#   and integrity hashes; `npm install` may resolve differently). The vsock
#   addon (and better-sqlite3, which only the host uses) are compiled from
#   source; npm_config_build_from_source forbids prebuilt downloads.
# - The compiler comes from Debian's archive, which changes over time; a
#   different g++ may give a different vsock .node and so different PCRs.
#   For a bit-for-bit rebuild pin the archive too:
#     --build-arg DEBIAN_SNAPSHOT=20250115T000000Z   (a snapshot.debian.org timestamp)
# - deploy/stage-enclave.mjs copies only what the enclave runs (no tests, no
#   test support, no source maps, no host or client code), with every file
#   0644, every directory 0755 and every mtime SOURCE_DATE_EPOCH, and prints a
#   sha256 list of the staged files: compare it between two builds. COPY
#   --from keeps those modes and times, so no --chmod is needed (and --chmod
#   would give directories and files the same mode).
# - SOURCE_DATE_EPOCH (a build arg; Buildx passes it from the environment),
#   with `--output type=docker,rewrite-timestamp=true`, also clamps the
#   timestamps of the image config, history and layers, including the
#   directories WORKDIR creates. deploy/build-enclave.sh sets it to the
#   commit's time.
#
# The build context is the repository root; deploy/enclave.Dockerfile.dockerignore
# keeps node_modules, dist, .env and keys out of it.

# ---- build: compile everything, stage the enclave's files -------------------
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS build
ARG SOURCE_DATE_EPOCH
ARG DEBIAN_SNAPSHOT=
# Build tools for the native addons (node-gyp): this stage only.
RUN if [ -n "$DEBIAN_SNAPSHOT" ]; then \
      rm -f /etc/apt/sources.list.d/debian.sources; \
      echo "deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/$DEBIAN_SNAPSHOT bookworm main" > /etc/apt/sources.list; \
    fi \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_build_from_source=true \
    npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY scripts/ scripts/
COPY packages/ packages/
COPY test/ test/
# The vsock addon installs as "absent" when it fails to build; the enclave
# cannot run without it, so stop here rather than ship such an image.
RUN npm ci \
 && test -f packages/vsock/build/Release/vsock.node
RUN npm run build
COPY deploy/stage-enclave.mjs deploy/
RUN mkdir -p /out \
 && SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}" node deploy/stage-enclave.mjs /out/app > /out/enclave-files.sha256 \
 && cat /out/enclave-files.sha256

# ---- enclave: the base image and the staged files, nothing else -------------
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS enclave
ARG SOURCE_DATE_EPOCH
WORKDIR /app
COPY --from=build /out/app/ /app/
# No key here, ever: whatever is in ENV is in the image and the EIF, for the
# operator to read. The master keyring comes from AWS KMS, released only to
# an enclave whose attestation matches the key policy (README, "The master
# keys on Nitro"). The KMS key, its region and the admin token's hash are
# build arguments: they are part of what PCR0 measures, so a client that pins
# PCR0 also pins which KMS key and which admin this enclave answers to.
#   --build-arg KMS_KEY_ID=arn:aws:kms:REGION:ACCOUNT:key/ID --build-arg AWS_REGION=REGION
#   --build-arg ADMIN_TOKEN_SHA256=$(printf %s "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
# Without ADMIN_TOKEN_SHA256 the admin endpoints are off (`off`, its default);
# without KMS_KEY_ID the enclave refuses to start (KMS_KEY_ID: is empty).
ARG KMS_KEY_ID
ARG AWS_REGION=us-east-1
ARG ADMIN_TOKEN_SHA256=off
ENV ENCLAVE_MODE=production \
    KEY_SOURCE=kms \
    KMS_KEY_ID=${KMS_KEY_ID} \
    AWS_REGION=${AWS_REGION} \
    ADMIN_TOKEN_SHA256=${ADMIN_TOKEN_SHA256} \
    ENCLAVE_LISTEN=vsock://any:5005 \
    STORAGE_ADDR=vsock://3:5006 \
    EGRESS_ADDR=vsock://3:5007 \
    TELEMETRY_ADDR=vsock://3:5008 \
    ATTESTATION_PROVIDER=nsm \
    NODE_ENV=production
# The base image's docker-entrypoint.sh is not needed: run node directly.
ENTRYPOINT []
# --disable-sigusr1: Node ignores SIGUSR1 from its first instruction, so no
# signal can open the inspector before the enclave's code runs (production
# mode refuses to start without it; enclave/src/debugger-guard.ts).
CMD ["node", "--disable-sigusr1", "packages/enclave/dist/main.js"]
