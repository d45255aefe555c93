#!/usr/bin/env bash
# The build benchmark and reproducibility run: `mpr build` of the in-repo prover's deployable recipe
# (warm vendor and file caches, cold compile in the network-less builder container, then image, EIF and
# CVM bundle) against a plain `cargo build --release --locked` of the same tree (the same commit exported
# by git, a cold target directory, the host's warm cargo registry), one after the other on this machine;
# then MPR_BENCH_BUILDS (default 5) builds in all, each into its own output, whose binaries, PCRs and
# records must all be identical. Then EIF assembly from an image of 256 MiB against copying 256 MiB.
# Prints a Markdown report; BENCHMARKS.md records its output.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
setup_builder_image >&2
mpr=$CARGO_TARGET_DIR/release/mpr
work=${MPR_BENCH_DIR:-$MPR_CACHE/bench-build}
builds=${MPR_BENCH_BUILDS:-5}
rm -rf "$work/plain" "$work/plain-target" "$work"/release-*
mkdir -p "$work"
bash ci/prover-recipe.sh "$work" >&2
"$mpr" build --fetch-only --recipe "$work/mpr-recipe.toml" >&2

commit=$(git rev-parse HEAD)
mkdir -p "$work/plain"
git archive "$commit" | tar -x -C "$work/plain"
loads=("$(cut -d' ' -f1 /proc/loadavg)")
plain_start=$(date +%s.%N)
(cd "$work/plain" && CARGO_TARGET_DIR=$work/plain-target cargo build --release --locked --quiet -p prover --bin proof-server)
plain_end=$(date +%s.%N)
times=()
for i in $(seq "$builds"); do
    loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    start=$(date +%s.%N)
    "$mpr" build --no-load --recipe "$work/mpr-recipe.toml" --out "$work/release-$i" >/dev/null 2>"$work/mpr-build-$i.log"
    end=$(date +%s.%N)
    times+=("$(python3 -c "print($end - $start)")")
done
python3 - "$plain_start" "$plain_end" "$commit" "$(nproc)" "$work" "${loads[*]}" "${times[@]}" <<'PY'
import hashlib, json, pathlib, statistics, sys
start, plain_end = map(float, sys.argv[1:3])
commit, cores, work = sys.argv[3], sys.argv[4], pathlib.Path(sys.argv[5])
loads = sys.argv[6].split()
times = [float(t) for t in sys.argv[7:]]
plain = plain_end - start
print(f"## mpr build of the prover ({commit[:12]}), {cores} cores")
print()
print("| command | load average before | wall (s) | ratio to plain cargo |")
print("|---|---|---|---|")
print(f"| plain `cargo build --release --locked -p prover` | {loads[0]} | {plain:.1f} | 1.000 |")
for i, t in enumerate(times, 1):
    print(f"| `mpr build` #{i} (warm vendor cache) | {loads[i]} | {t:.1f} | {t/plain:.3f} |")
print(f"| `mpr build`, median of {len(times)} | | {statistics.median(times):.1f} | **{statistics.median(times)/plain:.3f}** |")
print()
rows, records = [], set()
for i in range(1, len(times) + 1):
    out = work / f"release-{i}"
    record = json.loads((out / "build-record.json").read_text())
    records.add(hashlib.sha256((out / "build-record.json").read_bytes()).hexdigest())
    binary = record["outputs"]["binary"]
    eif = record["outputs"]["eif"]["pcrs"]
    rows.append((i, binary["size"], binary["sha256"][:16], eif["pcr0"][:16], eif["pcr2"][:16]))
print(f"| build | proof-server bytes | binary sha256 | PCR0 | PCR2 |")
print("|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(str(x) for x in row) + " |")
print()
print(f"distinct binaries: {len({r[2] for r in rows})}; distinct build records: {len(records)}")
PY
echo
grep -E "done in" "$work/mpr-build-1.log" | sed 's/^/    /'
echo
echo "## EIF assembly vs copy"
echo
cargo bench --quiet -p builder --bench eif_assembly 2>/dev/null | grep ratio
