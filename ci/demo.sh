#!/usr/bin/env bash
# The main job: the release pipeline on the in-repo prover.
#   1. the builder image (Debian via mmdebstrap + this machine's Rust toolchain), made once;
#   2. `mpr build` of prover/ at HEAD: vendored source, network-less compile in the builder image,
#      deterministic OCI image (loaded into Docker), Nitro EIF and direct-boot CVM bundle, record;
#   3. the record's measurements, and the image started to answer /health;
#   4. the registry: `mpr serve` on its embedded default PostgreSQL (/var/lib/mpr/postgres as root),
#      the release published from the build record, its manifest signed with a demo OpenPGP key
#      (gpg) and the signature verified by the registry; then it keeps serving until Ctrl-C
#      (MPR_DEMO_SERVE_SECONDS=N stops it after N seconds).
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
docker rm -f "$cid" >/dev/null 2>&1 || true

echo "== mpr serve (embedded PostgreSQL) and mpr registry publish"
registry=http://127.0.0.1:${MPR_DEMO_PORT:-8080}
token_file=$out/publisher-token
admin_token_file=$out/admin-token
"$mpr" serve --listen "${registry#http://}" --token-file "$token_file" --admin-token-file "$admin_token_file" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "$registry/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$registry/readyz" >/dev/null
"$mpr" registry publish --registry "$registry" --token-file "$token_file" \
    --record "$out/release/build-record.json" --recipe "$out/mpr-recipe.toml"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["release"]["version"])' "$out/release/build-record.json")

echo "== signing the release manifest (demo key in $out/gnupg; a real release uses the project's key)"
export GNUPGHOME=$out/gnupg
mkdir -p -m 700 "$GNUPGHOME"
if ! gpg --batch --list-secret-keys demo-release@mpr.invalid >/dev/null 2>&1; then
    gpg --batch --pinentry-mode loopback --passphrase '' \
        --quick-gen-key 'mpr demo release key <demo-release@mpr.invalid>' ed25519 sign never 2>/dev/null
fi
auth=(-H "Authorization: Bearer $(cat "$token_file")")
# Keys are registered by an admin token; the publisher token cannot vouch for its own key.
gpg --batch --armor --export demo-release@mpr.invalid | curl -fsS -H "Authorization: Bearer $(cat "$admin_token_file")" \
    --data-binary @- "$registry/v1/keys?role=release" >/dev/null
curl -fsS "$registry/v1/releases/$version/manifest" -o "$out/manifest.json"
gpg --batch --yes --armor --local-user demo-release@mpr.invalid --detach-sign --output "$out/manifest.json.asc" "$out/manifest.json"
status=$(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" --data-binary @"$out/manifest.json.asc" \
    "$registry/v1/releases/$version/manifest/signatures")
case $status in 201) echo "signature verified and stored" ;; 409) echo "already signed by this key" ;; *) echo "signature refused: $status" >&2; exit 1 ;; esac

echo "== what a wallet asks: the active measurements of $version on AWS Nitro"
curl -fsS "$registry/v1/releases/$version/measurements?platform=aws-nitro" | python3 -m json.tool
echo "== results in $out/release (record: build-record.json)"
echo "== the registry serves $registry/ (pages), $registry/v1/releases (API), $registry/openapi.json"
if [ -n "${MPR_DEMO_SERVE_SECONDS:-}" ]; then
    sleep "$MPR_DEMO_SERVE_SECONDS"
else
    echo "   Ctrl-C stops it (the embedded PostgreSQL stops with it)."
    wait "$server"
fi
