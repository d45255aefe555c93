//! Any byte string given to the OVMF parser (footer GUID table, SEV metadata) yields a firmware or an
//! error, never a panic; a parsed firmware can always be hashed and measured without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use measurer::snp::{self, Firmware, GuestFeatures, SnpParams, VmmType};

fuzz_target!(|data: &[u8]| {
    if let Ok(firmware) = Firmware::parse(data.to_vec()) {
        let _ = snp::ovmf_hash(&firmware);
        // Sections may legitimately claim up to 4 GiB of zero pages (about half a second to measure);
        // skip those so the fuzzer spends its time on parsing paths instead.
        let claimed: u64 = firmware.sections().iter().map(|s| u64::from(s.size)).sum();
        if claimed > 16 << 20 {
            return;
        }
        let params = SnpParams {
            vcpus: 2,
            vcpu_type: None,
            vcpu_sig: 0x00a0_0f11,
            vmm: VmmType::Qemu,
            guest_features: GuestFeatures(0x1),
            kernel: None,
            ovmf_hash: None,
        };
        let _ = snp::launch_digest(&firmware, &params);
    }
});
