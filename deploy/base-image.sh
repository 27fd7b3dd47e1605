#!/usr/bin/env bash
# A stand-in for the Dockerfile's base image, built from Debian's packages where no registry can be reached:
# `deploy/base-image.sh [NAME]` (default localhost/bg-remover-base:bookworm), then
# `make image BASE=localhost/bg-remover-base:bookworm`. For testing the image on machines without a
# registry (tests/test_container.py); never the shipped base, which stays python:3.11-slim.
#
# Debian bookworm (minbase, from the Debian mirror apt uses) with python3 3.11, pip, venv and
# python-is-python3, imported into the local image store of podman or buildah. Debian marks its Python as
# externally managed (PEP 668); inside an image pip is the package manager, as in python:3.11-slim, so
# the mark is removed. About 2 minutes.
set -euo pipefail
NAME="${1:-localhost/bg-remover-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
for tool in debootstrap; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install debootstrap" >&2; exit 2; }
done
if command -v podman >/dev/null; then importer=(podman --storage-driver="$STORAGE_DRIVER" import);
elif command -v buildah >/dev/null; then importer=();
else echo "error: neither podman nor buildah is installed: apt-get install podman buildah" >&2; exit 2; fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/bg-remover-base.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
chmod 755 "$rootfs"  # the image's / (mktemp's 0700 would lock every user but root out of the whole tree)
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >&2
rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
# The host's own extra certificate authorities (a TLS-intercepting proxy's, say) are trusted inside too,
# so that apt and pip in the build reach what the host reaches.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs"/usr/local/share/ca-certificates/
    chroot "$rootfs" update-ca-certificates >&2
fi
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
# The image's apt sources: the same mirror, so that the Dockerfile's apt-get install works inside.
echo "deb $MIRROR bookworm main" > "$rootfs"/etc/apt/sources.list

if [ ${#importer[@]} -gt 0 ]; then
    tar -C "$rootfs" -c . | "${importer[@]}" --change 'CMD ["python3"]' - "$NAME" >&2
else  # buildah alone: a container from scratch with the tree copied in, committed
    container=$(buildah --storage-driver="$STORAGE_DRIVER" from scratch)
    buildah --storage-driver="$STORAGE_DRIVER" copy "$container" "$rootfs" / >&2
    buildah --storage-driver="$STORAGE_DRIVER" config --cmd python3 "$container"
    buildah --storage-driver="$STORAGE_DRIVER" commit --rm "$container" "$NAME" >&2
fi
echo "$NAME"
