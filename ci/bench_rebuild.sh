#!/usr/bin/env bash
# The rebuild benchmark: `mpr rebuild verify` of the in-repo prover's release against `mpr build` of the
# same recipe, in the same run, interleaved (build then rebuild, rebuild then build, ...) so that both
# meet the same machine. Both compile cold in the network-less builder container with the warm vendor and file
# caches; the rebuild also verifies the release (signature, trust policy, log proof) and compares its
# statement. Uses the newest release ci/demo.sh made (run it first): $MPR_CACHE/demo/releases/VERSION, the
# recipe, trust policy and release key. MPR_BENCH_ROUNDS (default 3) pairs. Prints a Markdown report.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
mpr=$CARGO_TARGET_DIR/release/mpr
demo=${MPR_DEMO_DIR:-$MPR_CACHE/demo}
work=${MPR_BENCH_DIR:-$MPR_CACHE/bench-rebuild}
rounds=${MPR_BENCH_ROUNDS:-3}
release=$(find "$demo/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)
for f in "$release/statement.json" "$demo/mpr-recipe.toml" "$demo/trust-policy.toml" "$demo/release-key.pub.asc"; do
    [ -e "$f" ] || { echo "missing $f: run bash ci/demo.sh first" >&2; exit 1; }
done
mkdir -p "$work"
build() {
    "$mpr" build --no-load --recipe "$demo/mpr-recipe.toml" --out "$work/build-$1" >/dev/null 2>"$work/build-$1.log"
}
rebuild() {
    "$mpr" --json rebuild verify --no-load --release "$release" --recipe "$demo/mpr-recipe.toml" \
        --policy "$demo/trust-policy.toml" --keyring "$demo/release-key.pub.asc" --out "$work/rebuild-$1" \
        >"$work/rebuild-$1.json" 2>"$work/rebuild-$1.log"
}
# Seconds that one command takes, and the load average just before it.
timed() {
    local load start end
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    echo "$load $(python3 -c "print($end - $start)")"
}
rows=()
for i in $(seq "$rounds"); do
    # Each output directory is this script's own, made afresh per round. Odd rounds build first,
    # even rounds rebuild first, so that a machine slowing down (or speeding up) over the run
    # favours neither side.
    rm -rf "$work/build-$i" "$work/rebuild-$i"
    if [ $((i % 2)) = 1 ]; then
        b=$(timed build "$i"); r=$(timed rebuild "$i"); order=build-first
    else
        r=$(timed rebuild "$i"); b=$(timed build "$i"); order=rebuild-first
    fi
    rows+=("$i $order $b $r")
done
python3 - "$work" "$(git rev-parse HEAD)" "$(nproc)" "${rows[@]}" <<'PY'
import json, pathlib, statistics, sys
work, commit, cores = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
print(f"## mpr rebuild verify against mpr build of the prover ({commit[:12]}), {cores} cores")
print()
print("| round | order | load before build | build (s) | load before rebuild | rebuild verify (s) | ratio | verdict |")
print("|---|---|---|---|---|---|---|---|")
ratios = []
for row in sys.argv[4:]:
    i, order, load, build, load2, rebuild = row.split()
    build, rebuild = float(build), float(rebuild)
    verdict = json.loads((work / f"rebuild-{i}.json").read_text())["status"]
    ratios.append(rebuild / build)
    print(f"| {i} | {order} | {load} | {build:.1f} | {load2} | {rebuild:.1f} | {rebuild / build:.3f} | {verdict} |")
print(f"| median | | | | | | **{statistics.median(ratios):.3f}** | |")
PY
