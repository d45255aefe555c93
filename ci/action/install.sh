#!/usr/bin/env bash
# The action's first step: mpr on PATH. Built from the action's own source (the commit the workflow
# pinned), or MPR_BIN when the caller brings a binary of that commit (a cached build, a test).
set -euo pipefail
if [ -n "${MPR_BIN:-}" ]; then
    [ -x "$MPR_BIN" ] || { echo "::error::MPR_BIN=$MPR_BIN is not an executable file"; exit 1; }
    bin_dir=$(cd "$(dirname "$MPR_BIN")" && pwd)
else
    source_dir=$(cd "$GITHUB_ACTION_PATH/.." && pwd)
    export CARGO_TARGET_DIR=${MPR_TARGET_DIR:-${RUNNER_TEMP:?}/mpr-target}
    # The registry's queries were checked at commit time (registry-api/.sqlx): no database here.
    SQLX_OFFLINE=true cargo build --release --locked -p mpr --manifest-path "$source_dir/Cargo.toml"
    bin_dir=$CARGO_TARGET_DIR/release
fi
echo "$bin_dir" >> "$GITHUB_PATH"
"$bin_dir/mpr" --version
