#!/usr/bin/env python3
"""Reference SEV-SNP launch digests from sev-snp-measure 0.0.13, for measurer/tests/snp_crosscheck.rs.

Runs under the venv python that has sev-snp-measure installed. Reads one JSON object per line on stdin
and prints one line per case on stdout: the 96-hex-digit digest, or "error: <message>" when the tool
refuses. One process serves every case, so thousands of cases cost seconds, not a Python start-up each.

Case fields (all but "ovmf" and "vcpus" optional):
  ovmf            path to the firmware image
  vcpus           number of vCPUs
  vcpu_type       QEMU CPU model name ("EPYC-v4"), as --vcpu-type
  vcpu_sig        integer signature, as --vcpu-sig (used when vcpu_type is absent)
  vmm             "QEMU", "ec2" or "gce" (default "QEMU"), as --vmm-type
  guest_features  integer (default 0x1), as --guest-features
  kernel, initrd  paths; append: the command line string
  ovmf_hash       hex digest, as --snp-ovmf-hash

The calls mirror sevsnpmeasure/cli.py's main(): the same signature lookup and the same library entry
point, so a digest here is what the `sev-snp-measure --mode snp` command prints.
"""

import json
import sys

from sevsnpmeasure import guest, vcpu_types, vmm_types
from sevsnpmeasure.sev_mode import SevMode


def vcpu_signature(case: dict) -> int:
    if case.get("vcpu_type") is not None:
        return vcpu_types.CPU_SIGS[case["vcpu_type"]]
    return case.get("vcpu_sig") or 0


def measure(case: dict) -> str:
    vmm = vmm_types.VMMType[case.get("vmm", "QEMU")]
    digest = guest.calc_launch_digest(
        SevMode.SEV_SNP,
        case["vcpus"],
        vcpu_signature(case),
        case["ovmf"],
        case.get("kernel"),
        case.get("initrd"),
        case.get("append"),
        case.get("guest_features", 0x1),
        case.get("ovmf_hash") or "",
        vmm,
    )
    return digest.hex()


def main() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = measure(json.loads(line))
        except Exception as error:  # report, keep serving: one bad case must not hide the others
            result = f"error: {type(error).__name__}: {error}".replace("\n", " ")
        sys.stdout.write(result + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
