#!/usr/bin/env bash
# Make the container base image on a machine that reaches no container registry: a minimal Debian
# bookworm (debootstrap, from the Debian archive) with python3 and venv, imported into podman.
# Usage: container/make_base.sh [IMAGE]   (default localhost/attnviz-base:bookworm; skipped if present)
set -euo pipefail
IMAGE=${1:-localhost/attnviz-base:bookworm}
if podman image exists "$IMAGE"; then
  echo "base image $IMAGE exists"
  exit 0
fi
ROOTFS=$(mktemp -d)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS" \
  http://deb.debian.org/debian
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | podman import - "$IMAGE"
