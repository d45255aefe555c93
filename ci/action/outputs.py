#!/usr/bin/env python3
"""The action's outputs from `mpr --json release`'s journal: appended to $GITHUB_OUTPUT, with a
table of the stages in the job summary. Exits non-zero when a platform the caller requires has no
measurement (the release then covers less than the workflow promises)."""

import json
import os
import sys

KNOWN_PLATFORMS = {
    "aws-nitro": lambda m: bool(m.get("pcr0")),
    "sev-snp": lambda m: bool(m.get("snp")),
}


def main() -> int:
    journal_path, platforms = sys.argv[1], sys.argv[2]
    text = open(journal_path, encoding="utf-8").read()
    if not text.strip():
        print("::error::mpr release printed no journal (it stopped before its first stage; its error is above)")
        return 1
    journal = json.loads(text)
    measurements = journal.get("measurements", {})
    github = journal.get("github") or {}
    outputs = {
        "statement-digest": journal.get("statement_sha256") or "",
        "pcr0": measurements.get("pcr0") or "",
        "pcr1": measurements.get("pcr1") or "",
        "pcr2": measurements.get("pcr2") or "",
        "snp-digests": json.dumps(measurements.get("snp", []), separators=(",", ":")),
        "release-url": github.get("url", ""),
        "registry-release-url": journal.get("release_url") or "",
    }
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        for name, value in outputs.items():
            out.write(f"{name}={value}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(f"### mpr release {journal.get('version', '?')}\n\n| stage | outcome | seconds | detail |\n|---|---|---|---|\n")
            for stage in journal.get("stages", []):
                detail = stage["detail"].replace("|", "\\|").replace("\n", " ")
                out.write(f"| {stage['stage']} | {stage['outcome']} | {stage['seconds']:.1f} | {detail} |\n")
    status = 0
    for platform in filter(None, (p.strip() for p in platforms.split(","))):
        check = KNOWN_PLATFORMS.get(platform)
        if check is None:
            print(f"::error::unknown platform {platform!r} in input platforms (known: {', '.join(sorted(KNOWN_PLATFORMS))})")
            status = 1
        elif not check(measurements):
            print(f"::error::the release has no {platform} measurement, but input platforms requires it: add the platform to the recipe or drop it from platforms")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
