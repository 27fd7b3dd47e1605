#!/usr/bin/env bash
# Build the Dockerfile with whichever of docker, buildah or podman is present, and say which:
# `deploy/build-image.sh [NAME]` (`make image`). BASE and TENSORFLOW, where set, are passed as build
# arguments (Dockerfile); podman and buildah store images with STORAGE_DRIVER (default vfs, which works
# without kernel overlay support) and build with chroot isolation (no user namespaces needed). buildah
# comes before podman: it builds in one working container and commits once, where podman commits every
# step, and with vfs every commit is a full copy of the tree (gigabytes with TensorFlow's CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${1:-person-bg-remover}"
STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
args=()
[ -n "${BASE:-}" ] && args+=(--build-arg "BASE=$BASE")
[ -n "${TENSORFLOW:-}" ] && args+=(--build-arg "TENSORFLOW=$TENSORFLOW")
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo "building $NAME with docker" >&2
    exec docker build "${args[@]}" -t "$NAME" .
elif command -v buildah >/dev/null; then
    echo "building $NAME with buildah ($STORAGE_DRIVER storage, chroot isolation)" >&2
    exec buildah --storage-driver="$STORAGE_DRIVER" bud --isolation=chroot --format docker "${args[@]}" -t "$NAME" .
elif command -v podman >/dev/null; then
    echo "building $NAME with podman ($STORAGE_DRIVER storage, chroot isolation)" >&2
    exec podman --storage-driver="$STORAGE_DRIVER" build --isolation=chroot --format docker "${args[@]}" -t "$NAME" .
fi
echo "error: no docker engine, podman or buildah: install one (apt-get install podman buildah)" >&2
exit 2
