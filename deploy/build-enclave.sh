#!/usr/bin/env bash
# Builds the enclave's Docker image and its enclave image file (EIF), and
# writes the EIF's measurements (PCR0, PCR1, PCR2) next to it.
#
#   KMS_KEY_ID=arn:aws:kms:REGION:ACCOUNT:key/ID AWS_REGION=REGION \
#   [ADMIN_TOKEN_SHA256=HEX] deploy/build-enclave.sh [OUTPUT.eif]   (default: http-enclave.eif)
#
# KMS_KEY_ID, AWS_REGION and ADMIN_TOKEN_SHA256 become build arguments of the
# image (so PCR0 pins them); KMS_KEY_ID is required.
#
# Needs Docker with Buildx and nitro-cli (any Linux machine can build an EIF;
# only a Nitro parent instance can run one). Run it from a clean checkout:
# the build context is the working tree. Two runs on the same commit should
# print the same PCRs; if they differ, compare the files lists printed by
# the build stage (deploy/stage-enclave.mjs) first.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KMS_KEY_ID:?build-enclave: set KMS_KEY_ID to the full ARN of the KMS key (README, \"The master keys on Nitro\")}"
eif=${1:-http-enclave.eif}
commit=$(git rev-parse --short=12 HEAD)
tag="http-enclave-enclave:${commit}"
if [ -n "$(git status --porcelain)" ]; then
  echo "build-enclave: the working tree has changes; the PCRs will not match a build of ${commit}" >&2
fi

# File and image timestamps from the commit, not from the clock.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH

docker buildx build \
  --file deploy/enclave.Dockerfile \
  --build-arg SOURCE_DATE_EPOCH \
  --build-arg KMS_KEY_ID="$KMS_KEY_ID" \
  ${AWS_REGION:+--build-arg AWS_REGION="$AWS_REGION"} \
  ${ADMIN_TOKEN_SHA256:+--build-arg ADMIN_TOKEN_SHA256="$ADMIN_TOKEN_SHA256"} \
  ${DEBIAN_SNAPSHOT:+--build-arg DEBIAN_SNAPSHOT="$DEBIAN_SNAPSHOT"} \
  --output "type=docker,name=${tag},rewrite-timestamp=true" \
  .

nitro-cli build-enclave --docker-uri "$tag" --output-file "$eif" > "${eif%.eif}.measurements.json"
cat "${eif%.eif}.measurements.json"
echo "build-enclave: ${eif} from ${tag}; pin its PCR0, PCR1 and PCR2 (README, \"Running on AWS Nitro Enclaves\")" >&2
