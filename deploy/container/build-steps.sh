#!/bin/sh
# The build and install steps of the pmscan container image, kept apart from the Dockerfile so that
# tests/deploy/test_container.py runs the very same commands without a container engine.
#
#   build-steps.sh build SRC OUT     build SRC's wheel into OUT/dist (the command of `make wheel`), and
#                                    every dependency, at the versions and hashes that
#                                    SRC/requirements/runtime.txt locks, as a wheel into OUT/deps;
#                                    needs a compiler
#   build-steps.sh install OUT [ROOT]
#                                    install OUT/dist/*.whl from OUT/deps alone: no index, binary
#                                    wheels only (nothing compiled, no compiler needed); under ROOT
#                                    when given (pip's --root: the paths the interpreter would use,
#                                    below ROOT), as the Dockerfile's builder stage installs the tree
#                                    that the runtime stage copies
#
# PYTHON names the interpreter (default: python3); `install` uses that interpreter's pip.
set -eu

python="${PYTHON:-python3}"

usage() {
    echo "usage: $0 build SRC OUT | install OUT [ROOT]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
step="$1"
shift

case "$step" in
build)
    [ $# -eq 2 ] || usage
    src="$1"
    out="$2"
    mkdir -p "$out/dist" "$out/deps"
    out="$(cd "$out" && pwd)"
    # The same command as the Makefile's `wheel` target, with the output directory made explicit.
    (cd "$src" && "$python" -m pip wheel --quiet --no-deps -w "$out/dist" .)
    # Its dependencies, as wheels too, so that the runtime stage installs without an index or compiler:
    # exactly the locked ones, each checked against its hash.
    "$python" -m pip wheel --quiet --require-hashes -w "$out/deps" -r "$src/requirements/runtime.txt"
    ;;
install)
    [ $# -eq 1 ] || [ $# -eq 2 ] || usage
    out="$1"
    root="${2:-}"
    set -- --no-cache-dir --no-index --only-binary :all: --find-links "$out/deps"
    [ -z "$root" ] || set -- "$@" --root "$root"
    "$python" -m pip install "$@" "$out"/dist/*.whl
    ;;
*)
    usage
    ;;
esac
