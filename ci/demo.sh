#!/usr/bin/env bash
# The main job: the release pipeline on the in-repo prover.
#   1. the builder image (Debian via mmdebstrap + this machine's Rust toolchain), made once;
#   2. `mpr build` of prover/ at HEAD: vendored source, network-less compile in the builder image,
#      deterministic OCI image (loaded into Docker), Nitro EIF and direct-boot CVM bundle, record;
#   3. the record's measurements, and the image started to answer /health.
# Output goes to $MPR_DEMO_DIR (default: $MPR_CACHE/demo).
# The recipe and its boot blobs come from ci/prover-recipe.sh (see there for the Nitro blobs).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
setup_builder_image
mpr=$CARGO_TARGET_DIR/release/mpr
out=${MPR_DEMO_DIR:-$MPR_CACHE/demo}
bash ci/prover-recipe.sh "$out"

echo "== mpr build (recipe: $out/mpr-recipe.toml)"
"$mpr" build --recipe "$out/mpr-recipe.toml" --out "$out/release"
echo "== mpr eif describe"
"$mpr" eif describe "$out/release/eif/midnight-proof-server.eif"
echo "== mpr measure snp (Debian OVMF.fd, 4 x EPYC-Milan, firmware only)"
"$mpr" measure snp --ovmf /usr/share/ovmf/OVMF.fd --vcpus 4 --vcpu-type EPYC-Milan
echo "== the image serves /health"
# At start-up the server loads (and by default downloads) the public parameters, as upstream's does; this
# container has neither them nor the Internet, so it starts with --no-fetch-params. A deployment mounts
# them (--params-dir / MIDNIGHT_PP) or lets the server fetch them.
image=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outputs"]["image"]["config_digest"])' "$out/release/build-record.json")
cid=$(docker run -d --rm -p 127.0.0.1::6300 "$image" --port 6300 --no-fetch-params)
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
port=$(docker port "$cid" 6300/tcp | head -1 | sed 's/.*://')
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/health" && echo && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null
echo "== results in $out/release (record: build-record.json)"
