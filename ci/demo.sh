#!/usr/bin/env bash
# The main job: the release pipeline on the in-repo prover.
#   1. the builder image (Debian via mmdebstrap + this machine's Rust toolchain), made once;
#   2. `mpr build` of prover/ at HEAD: vendored source, network-less compile in the builder image,
#      deterministic OCI image (loaded into Docker), Nitro EIF and direct-boot CVM bundle, record;
#   3. the record's measurements, and the image started to answer /health;
#   4. the registry: `mpr serve` on its embedded default PostgreSQL (/var/lib/mpr/postgres as root),
#      the release published from the build record; its in-toto release statement signed with an
#      mpr-generated OpenPGP key (`mpr key generate`, `mpr manifest sign`) and the signature verified
#      by the registry; the statement appended to the transparency log, a witness's cosignature
#      (`mpr log witness`), the checkpoint, and the offline check a wallet makes (`mpr manifest
#      verify` with a trust policy and the proof bundle); then it keeps serving until Ctrl-C
#      (MPR_DEMO_SERVE_SECONDS=N stops it after N seconds).
# Output goes to $MPR_DEMO_DIR (default: $MPR_CACHE/demo).
# The recipe and its boot blobs come from ci/prover-recipe.sh (see there for the Nitro blobs).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
ensure_disk_space
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

echo "== the transparency log's key and a witness's key (kept in $out)"
# A real deployment keeps these elsewhere: the log key with the registry, the witness key with an
# independent operator. Both are made once and reused by later runs.
[ -f "$out/log-key" ] || "$mpr" log key generate --origin demo.mpr.invalid/log --out "$out/log-key" > "$out/log-key.vkey"
[ -f "$out/witness-key" ] || "$mpr" log key generate --witness --origin demo-witness.mpr.invalid --out "$out/witness-key" > "$out/witness-key.vkey"
log_vkey=$(cat "$out/log-key.vkey")
witness_vkey=$(cat "$out/witness-key.vkey")

echo "== mpr serve (embedded PostgreSQL) and mpr registry publish"
registry=http://127.0.0.1:${MPR_DEMO_PORT:-8080}
token_file=$out/publisher-token
admin_token_file=$out/admin-token
"$mpr" serve --listen "${registry#http://}" --token-file "$token_file" --admin-token-file "$admin_token_file" \
    --log-key "$out/log-key" --witness-key "$witness_vkey" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "$registry/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$registry/readyz" >/dev/null
"$mpr" registry publish --registry "$registry" --token-file "$token_file" \
    --record "$out/release/build-record.json" --recipe "$out/mpr-recipe.toml"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["release"]["version"])' "$out/release/build-record.json")

echo "== signing the release statement with an mpr-generated OpenPGP key (demo key in $out; a real release uses the project's)"
[ -f "$out/key-passphrase" ] || (umask 077; head -c 24 /dev/urandom | base64 > "$out/key-passphrase")
[ -f "$out/release-key.asc" ] || "$mpr" key generate --user-id 'mpr demo release key <demo-release@mpr.invalid>' \
    --passphrase-file "$out/key-passphrase" --out "$out/release-key.asc" >/dev/null
fingerprint=$("$mpr" --json key export --key "$out/release-key.asc" --out "$out/release-key.pub.asc" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
admin=(-H "Authorization: Bearer $(cat "$admin_token_file")")
publisher=(-H "Authorization: Bearer $(cat "$token_file")")
curl -sS -o /dev/null "${admin[@]}" --data-binary @"$out/release-key.pub.asc" "$registry/v1/keys?role=release"
curl -fsS "$registry/v1/releases/$version/statement" -o "$out/statement.json"
"$mpr" manifest sign --key "$out/release-key.asc" --passphrase-file "$out/key-passphrase" \
    --statement "$out/statement.json" --out "$out/statement.json.asc" >/dev/null
status=$(curl -sS -o /dev/null -w '%{http_code}' "${publisher[@]}" --data-binary @"$out/statement.json.asc" \
    "$registry/v1/releases/$version/statement/signatures")
case $status in 201) echo "signature by $fingerprint verified and stored" ;; 409) echo "already signed by $fingerprint" ;; *) echo "signature refused: $status" >&2; exit 1 ;; esac

echo "== the transparency log: the witness cosigns, the checkpoint and the statement's proof"
statement_sha256=$(sha256sum "$out/statement.json" | cut -d' ' -f1)
index=""
for _ in $(seq 100); do
    index=$(curl -fsS "$registry/v1/log/entries?statement=sha256:$statement_sha256" \
        | python3 -c 'import json,sys; e=json.load(sys.stdin)["entries"]; print(e[0]["index"] if e else "")')
    [ -n "$index" ] && break
    sleep 0.2
done
[ -n "$index" ] || { echo "the release statement did not reach a published checkpoint" >&2; exit 1; }
"$mpr" log witness --log "$registry" --log-key "$log_vkey" --key "$out/witness-key" \
    --state "$out/witness-state.json" --once
curl -fsS "$registry/log/checkpoint"
curl -fsS "$registry/v1/log/bundle?index=$index" -o "$out/statement.proof"
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
echo "== what a wallet checks offline: signature, trust policy, log inclusion and witness cosignature"
"$mpr" manifest verify --statement "$out/statement.json" --signature "$out/statement.json.asc" \
    --keyring "$out/release-key.pub.asc" --policy "$out/trust-policy.toml" --proof "$out/statement.proof"

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
