#!/usr/bin/env bash
# Issue 4's build benchmark: `mpr build` of the in-repo prover (warm vendor cache, cold compile in
# the network-less builder container, then image, EIF and CVM bundle) against a plain
# `cargo build --release --locked` of the same tree (the same commit exported by git, a cold target
# directory, the host's warm cargo registry), on the same machine, one after the other.
# Then EIF assembly from an image of 256 MiB against copying 256 MiB (builder/benches/eif_assembly.rs).
# Prints a Markdown report; BENCHMARKS.md records its output.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
setup_builder_image >&2
mpr=$CARGO_TARGET_DIR/release/mpr
work=${MPR_BENCH_DIR:-$MPR_CACHE/bench-build}
rm -rf "$work/plain" "$work/plain-target" "$work/release"
mkdir -p "$work"
bash ci/prover-recipe.sh "$work" >&2
"$mpr" build --fetch-only --recipe "$work/mpr-recipe.toml" >&2

commit=$(git rev-parse HEAD)
mkdir -p "$work/plain"
git archive "$commit" | tar -x -C "$work/plain"
plain_start=$(date +%s.%N)
(cd "$work/plain" && CARGO_TARGET_DIR=$work/plain-target cargo build --release --locked --quiet -p prover --bin proof-server)
plain_end=$(date +%s.%N)
"$mpr" build --recipe "$work/mpr-recipe.toml" --out "$work/release" >/dev/null 2>"$work/mpr-build.log"
mpr_end=$(date +%s.%N)
python3 - "$plain_start" "$plain_end" "$mpr_end" "$commit" "$(nproc)" <<'PY'
import sys
start, plain_end, mpr_end = map(float, sys.argv[1:4])
plain, mpr = plain_end - start, mpr_end - plain_end
print(f"## mpr build of the prover ({sys.argv[4][:12]}), {sys.argv[5]} cores")
print()
print("| command | wall (s) | ratio |")
print("|---|---|---|")
print(f"| plain `cargo build --release --locked -p prover` | {plain:.1f} | 1.00 |")
print(f"| `mpr build` (warm vendor cache) | {mpr:.1f} | {mpr/plain:.3f} |")
PY
echo
grep -E "done in" "$work/mpr-build.log" | sed 's/^/    /'
echo
echo "## EIF assembly vs copy"
echo
cargo bench --quiet -p builder --bench eif_assembly 2>/dev/null | grep ratio
