#!/usr/bin/env bash
# The action's second step: the builder image the recipe pins, in Docker. Made on the runner from
# the same inputs (Debian snapshot, packages, toolchain) when Docker does not have it; a runner
# that makes another image stops here, saying which.
set -euo pipefail
[ -f "$MPR_RECIPE" ] || { echo "::error::recipe $MPR_RECIPE not found (input recipe, relative to the workspace)"; exit 1; }
pinned=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["builder"]["image"])' "$MPR_RECIPE")
if docker image inspect "$pinned" >/dev/null 2>&1; then
    echo "builder image $pinned is in Docker"
    exit 0
fi
echo "builder image $pinned is not in Docker: making it (mpr builder-image create)"
made=$(mpr --json builder-image create --reuse | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
if [ "$made" != "$pinned" ]; then
    echo "::error::this runner made builder image $made, but the recipe pins $pinned; recreate the pinned one from a build record that used it (mpr builder-image create --like build-record.json), or pin $made in the recipe"
    exit 1
fi
