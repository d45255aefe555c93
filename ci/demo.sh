#!/usr/bin/env bash
# The main job: the release pipeline on the in-repo prover, in one command (`mpr release`).
#   1. the builder image (Debian via mmdebstrap + this machine's Rust toolchain), made once;
#   2. the registry: `mpr serve` on its embedded default PostgreSQL (/var/lib/mpr/postgres as root),
#      with a transparency log and a witness that cosigns its checkpoints (`mpr log witness`);
#   3. `mpr release` of prover/ at HEAD: the hermetic build (vendored source, network-less compile
#      in the builder image, deterministic OCI image, Nitro EIF, direct-boot CVM bundle, record),
#      the release recorded in the registry, its in-toto statement signed with an mpr-generated
#      OpenPGP key, its log proof (checked against the wallet's trust policy), and the GitHub
#      release (skipped, saying so, unless GITHUB_TOKEN or MPR_GITHUB_TOKEN and
#      MPR_GITHUB_REPOSITORY are set). Run again, it resumes and repeats nothing that is done;
#   4. the image started to answer /health, and the offline check a wallet makes (`mpr manifest
#      verify` with the trust policy and the proof bundle); then the registry keeps serving until
#      Ctrl-C (MPR_DEMO_SERVE_SECONDS=N stops it after N seconds).
# Output goes to $MPR_DEMO_DIR (default: $MPR_CACHE/demo); each release in its releases/VERSION/.
# The recipe and its boot blobs come from ci/prover-recipe.sh (see there for the Nitro blobs).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
ensure_disk_space
setup_builder_image
mpr=$CARGO_TARGET_DIR/release/mpr
out=${MPR_DEMO_DIR:-$MPR_CACHE/demo}
bash ci/prover-recipe.sh "$out"
recipe=$out/mpr-recipe.toml
version=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["version"])' "$recipe")

echo "== keys (kept in $out; a real deployment keeps each with its owner)"
# The log key stays with the registry, the witness key with an independent operator, the release
# key with the release team. Each is made once and reused by later runs.
[ -f "$out/log-key" ] || "$mpr" log key generate --origin demo.mpr.invalid/log --out "$out/log-key" > "$out/log-key.vkey"
[ -f "$out/witness-key" ] || "$mpr" log key generate --witness --origin demo-witness.mpr.invalid --out "$out/witness-key" > "$out/witness-key.vkey"
log_vkey=$(cat "$out/log-key.vkey")
witness_vkey=$(cat "$out/witness-key.vkey")
[ -f "$out/key-passphrase" ] || (umask 077; head -c 24 /dev/urandom | base64 > "$out/key-passphrase")
[ -f "$out/release-key.asc" ] || "$mpr" key generate --user-id 'mpr demo release key <demo-release@mpr.invalid>' \
    --passphrase-file "$out/key-passphrase" --out "$out/release-key.asc" >/dev/null
fingerprint=$("$mpr" --json key export --key "$out/release-key.asc" --out "$out/release-key.pub.asc" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
cat > "$out/trust-policy.toml" <<POLICY
[release]
keys = ["$fingerprint"]
threshold = 1

[log]
origin = "demo.mpr.invalid/log"
key = "$log_vkey"

[witnesses]
keys = ["$witness_vkey"]
threshold = 1
POLICY

echo "== mpr serve (embedded PostgreSQL) and a witness following its log (its lines in $out/witness.log)"
registry=http://127.0.0.1:${MPR_DEMO_PORT:-8080}
token_file=$out/publisher-token
admin_token_file=$out/admin-token
"$mpr" serve --listen "${registry#http://}" --token-file "$token_file" --admin-token-file "$admin_token_file" \
    --log-key "$out/log-key" --witness-key "$witness_vkey" &
server=$!
witness=""
trap 'kill -TERM "$server" $witness 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "$registry/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$registry/readyz" >/dev/null
"$mpr" log witness --log "$registry" --log-key "$log_vkey" --key "$out/witness-key" \
    --state "$out/witness-state.json" --interval 2 > "$out/witness.log" 2>&1 &
witness=$!
# The release key, registered by an admin (201 the first time, 409 once it is known).
status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$admin_token_file")" \
    --data-binary @"$out/release-key.pub.asc" "$registry/v1/keys?role=release")
case $status in 201|409) ;; *) echo "registering the release key: $status" >&2; exit 1 ;; esac

echo "== mpr release $version (recipe: $recipe)"
# One release directory per version: a run at the same commit resumes, a new commit is a new release.
release=$out/releases/$version
"$mpr" release --version "$version" --recipe "$recipe" --out "$release" --registry "$registry" \
    --token-file "$token_file" --key "$out/release-key.asc" --passphrase-file "$out/key-passphrase" \
    --policy "$out/trust-policy.toml"

echo "== mpr eif describe"
"$mpr" eif describe "$release"/build/eif/*.eif
echo "== the image serves /health, started with its recorded command"
# No arguments after the image: the container runs the Cmd the release measured (--port 6300
# --no-fetch-params --params-dir /params, the parameters baked in through the recipe's [[files]]).
image=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outputs"]["image"]["config_digest"])' "$release/build/build-record.json")
docker image inspect "$image" >/dev/null 2>&1 || docker load -q -i "$release/build/image/image.tar"
cid=$(docker run -d --rm -p 127.0.0.1::6300 "$image")
port=$(docker port "$cid" 6300/tcp | head -1 | sed 's/.*://')
for _ in $(seq 150); do curl -fsS "http://127.0.0.1:$port/health" && echo && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null
docker rm -f "$cid" >/dev/null 2>&1 || true

echo "== what a wallet checks offline: signature, trust policy, log inclusion and witness cosignature"
"$mpr" manifest verify --statement "$release/statement.json" --signature "$release/statement.json.asc" \
    --keyring "$out/release-key.pub.asc" --policy "$out/trust-policy.toml" --proof "$release/statement.proof"

echo "== what a wallet asks: the active measurements of $version on AWS Nitro"
curl -fsS "$registry/v1/releases/$version/measurements?platform=aws-nitro" | python3 -m json.tool
echo "== results in $release (journal: release.json; build: build/)"
echo "== the registry serves $registry/ (pages), $registry/v1/releases (API), $registry/openapi.json"
if [ -n "${MPR_DEMO_SERVE_SECONDS:-}" ]; then
    sleep "$MPR_DEMO_SERVE_SECONDS"
else
    echo "   Ctrl-C stops it (the embedded PostgreSQL stops with it)."
    wait "$server"
fi
