#!/usr/bin/env bash
# The action's release step: `mpr release`, its JSON journal turned into the action's outputs.
# Secrets go to files readable only by this user (mpr reads tokens, keys and passphrases from
# files) and are removed when the step ends; they are never put on a command line.
set -euo pipefail
umask 077
secrets=$(mktemp -d "${RUNNER_TEMP:-/tmp}/mpr-secrets.XXXXXX")
trap 'rm -rf "$secrets"' EXIT
printf '%s\n' "$MPR_PUBLISHER_TOKEN" > "$secrets/publisher-token"
printf '%s\n' "$MPR_SIGNING_KEY" > "$secrets/release-key.asc"
sign=(--key "$secrets/release-key.asc")
if [ -n "$MPR_SIGNING_KEY_PASSPHRASE" ]; then
    printf '%s\n' "$MPR_SIGNING_KEY_PASSPHRASE" > "$secrets/passphrase"
    sign+=(--passphrase-file "$secrets/passphrase")
fi
unset MPR_PUBLISHER_TOKEN MPR_SIGNING_KEY MPR_SIGNING_KEY_PASSPHRASE MPR_KEY_PASSPHRASE
# Without a token the GitHub stage is skipped (and says so); never fall back to another token.
unset GITHUB_TOKEN
[ -n "${MPR_GITHUB_TOKEN:-}" ] || unset MPR_GITHUB_TOKEN
out=${MPR_RELEASE_DIR:-${RUNNER_TEMP:?}/mpr-release-$MPR_VERSION}
mkdir -p "$(dirname "$out")"
status=0
mpr --json release --version "$MPR_VERSION" --recipe "$MPR_RECIPE" --out "$out" \
    --registry "$MPR_REGISTRY_URL" --token-file "$secrets/publisher-token" "${sign[@]}" \
    --log-wait "$MPR_LOG_WAIT" --no-load > "$secrets/journal.json" || status=$?
python3 "$GITHUB_ACTION_PATH/action/outputs.py" "$secrets/journal.json" "$MPR_PLATFORMS" || { [ "$status" -ne 0 ] || status=1; }
exit "$status"
