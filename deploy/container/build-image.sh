#!/bin/sh
# Build the pmscan image with podman (`make image`), from the repository root:
#
#   sh deploy/container/build-image.sh [IMAGE]          IMAGE defaults to localhost/pmscan:dev
#
# The base is the Dockerfile's PYTHON_IMAGE, python:3.11-slim unless PYTHON_IMAGE says otherwise.
# When the default cannot be pulled (no registry is reachable, as in our CI), the script says so and
# builds on an equivalent base made from Debian's packages instead: bookworm's Python 3.11 with pip,
# `python` and the CA certificates, made with mmdebstrap, imported as DEBIAN_BASE and kept there for
# the next build. An explicit PYTHON_IMAGE that cannot be pulled is an error.
#
# The host's CA bundle (BUILD_CA, /etc/ssl/certs/ca-certificates.crt; empty for none) is mounted into
# the build for pip, which then trusts what the host trusts: behind a TLS-intercepting proxy it
# would refuse the proxy's certificates otherwise. It leaves no trace in the image.
#
# podman reads deploy/container/podman-ci.conf unless CONTAINERS_CONF is set (that file says why).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
image="${1:-localhost/pmscan:dev}"
default_base=python:3.11-slim
python_image="${PYTHON_IMAGE:-$default_base}"
debian_base="${DEBIAN_BASE:-localhost/pmscan-python:3.11-bookworm}"
build_ca="${BUILD_CA-/etc/ssl/certs/ca-certificates.crt}"
export CONTAINERS_CONF="${CONTAINERS_CONF-$here/podman-ci.conf}"

say() { echo "build-image.sh: $*" >&2; }

command -v podman >/dev/null || { say "podman is not installed (make image-tools installs it)"; exit 1; }

# The equivalent of python:3.11-slim from Debian's packages, as its Dockerfile would have it: the
# interpreter as `python3` and `python` on PATH, pip able to install where that image's pip does (no
# EXTERNALLY-MANAGED marker, PEP 668), and debian:bookworm-slim's dpkg exclusions (no manuals, no
# documentation but the copyrights, no translations). No headers and no compiler: the Dockerfile's
# builder stage adds those, so the runtime stage on the same base has no development package.
make_debian_base() {
    command -v mmdebstrap >/dev/null || { say "mmdebstrap is not installed (make image-tools)"; exit 1; }
    mmdebstrap --quiet --variant=minbase \
        --include=python3,python3-pip,python-is-python3,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/groff/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
        bookworm "$work/base.tar"
    podman import --quiet \
        --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV=LANG=C.UTF-8' \
        --change 'CMD=["python3"]' \
        "$work/base.tar" "$debian_base" >/dev/null
    rm "$work/base.tar"
}

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base="$python_image"
if ! podman image exists "$base"; then
    if ! pulled=$(podman pull --quiet "$base" 2>&1); then
        if [ -n "${PYTHON_IMAGE:-}" ]; then
            say "cannot pull $python_image: $pulled"
            exit 1
        fi
        base="$debian_base"
        say "cannot pull $python_image ($(echo "$pulled" | tail -n 1))"
        if podman image exists "$base"; then
            say "building on $base, made earlier from Debian's packages"
        else
            say "building on $base, made now from Debian's packages (mmdebstrap bookworm)"
            make_debian_base
        fi
    fi
fi

set -- --format docker --pull=never --file "$here/Dockerfile" --ignorefile "$here/Dockerfile.dockerignore" \
    --build-arg "PYTHON_IMAGE=$base"
if [ -n "$build_ca" ] && [ -r "$build_ca" ]; then
    set -- "$@" --volume "$build_ca:/run/build-ca.pem:ro" --build-arg PIP_CERT=/run/build-ca.pem
fi
podman build "$@" --tag "$image" "$repo"
say "built $image on $base in $(($(date +%s) - start)) s," \
    "$(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
