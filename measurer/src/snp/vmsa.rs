//! The initial VM save area (VMSA) of a vCPU, the page SNP_LAUNCH_UPDATE measures for each vCPU. Only the
//! registers the VMM sets at reset are non-zero; their values differ per VMM.

use super::{GuestFeatures, VmmType};
use crate::sha384::sha384;

pub const VMSA_SIZE: usize = 4096;

/// The BSP starts at the architectural reset vector.
pub const BSP_EIP: u32 = 0xFFFF_FFF0;

/// The reset-time state of one vCPU, everything that varies between launches.
#[derive(Debug, Clone, Copy)]
pub struct VcpuReset {
    pub eip: u32,
    pub vmm: VmmType,
    pub vcpu_signature: u32,
    pub guest_features: GuestFeatures,
}

/// Segment attribute and register values that depend on the VMM.
struct VmmRegisters {
    cs_attrib: u16,
    ss_attrib: u16,
    tr_attrib: u16,
    rdx: u64,
    mxcsr: u32,
    x87_fcw: u16,
    g_pat: u64,
}

/// QEMU/KVM's and GCE's power-on PAT value.
const G_PAT_QEMU: u64 = 0x0007_0406_0007_0406;
const G_PAT_GCE: u64 = 0x0007_0106;
/// What the EC2 and GCE VMMs put in RDX at reset instead of the CPUID signature.
const RDX_FIXED: u64 = 0x600;

fn vmm_registers(reset: &VcpuReset) -> VmmRegisters {
    match reset.vmm {
        VmmType::Qemu => VmmRegisters {
            cs_attrib: 0x9B,
            ss_attrib: 0x93,
            tr_attrib: 0x8B,
            rdx: u64::from(reset.vcpu_signature),
            mxcsr: 0x1F80,
            x87_fcw: 0x37F,
            g_pat: G_PAT_QEMU,
        },
        VmmType::Ec2 => VmmRegisters {
            // EC2 leaves the BSP's code segment unaccessed (type 0xA), APs' accessed (0xB).
            cs_attrib: if reset.eip == BSP_EIP { 0x9A } else { 0x9B },
            ss_attrib: 0x92,
            tr_attrib: 0x83,
            rdx: RDX_FIXED,
            mxcsr: 0,
            x87_fcw: 0,
            g_pat: G_PAT_QEMU,
        },
        VmmType::Gce => VmmRegisters {
            cs_attrib: 0x9B,
            ss_attrib: 0x93,
            tr_attrib: 0x8B,
            rdx: RDX_FIXED,
            mxcsr: 0,
            x87_fcw: 0,
            g_pat: G_PAT_GCE,
        },
    }
}

/// A 4 KiB page filled in by offset; offsets are compile-time constants inside the page.
struct Page([u8; VMSA_SIZE]);

impl Page {
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        if let Some(slot) = offset
            .checked_add(bytes.len())
            .and_then(|end| self.0.get_mut(offset..end))
        {
            slot.copy_from_slice(bytes);
        }
    }

    fn segment(&mut self, offset: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
        self.put(offset, &selector.to_le_bytes());
        self.put(offset + 2, &attrib.to_le_bytes());
        self.put(offset + 4, &limit.to_le_bytes());
        self.put(offset + 8, &base.to_le_bytes());
    }
}

/// The VMSA page of a vCPU at reset.
pub fn vmsa_page(reset: &VcpuReset) -> [u8; VMSA_SIZE] {
    let registers = vmm_registers(reset);
    let data_attrib = 0x93;
    let mut page = Page([0; VMSA_SIZE]);
    page.segment(0x00, 0, data_attrib, 0xFFFF, 0); // es
    page.segment(
        0x10,
        0xF000,
        registers.cs_attrib,
        0xFFFF,
        u64::from(reset.eip & 0xFFFF_0000),
    ); // cs
    page.segment(0x20, 0, registers.ss_attrib, 0xFFFF, 0); // ss
    page.segment(0x30, 0, data_attrib, 0xFFFF, 0); // ds
    page.segment(0x40, 0, data_attrib, 0xFFFF, 0); // fs
    page.segment(0x50, 0, data_attrib, 0xFFFF, 0); // gs
    page.segment(0x60, 0, 0, 0xFFFF, 0); // gdtr
    page.segment(0x70, 0, 0x82, 0xFFFF, 0); // ldtr
    page.segment(0x80, 0, 0, 0xFFFF, 0); // idtr
    page.segment(0x90, 0, registers.tr_attrib, 0xFFFF, 0); // tr
    page.put(0xD0, &0x1000u64.to_le_bytes()); // efer: SVME
    page.put(0x148, &0x40u64.to_le_bytes()); // cr4: MCE
    page.put(0x158, &0x10u64.to_le_bytes()); // cr0: ET
    page.put(0x160, &0x400u64.to_le_bytes()); // dr7
    page.put(0x168, &0xFFFF_0FF0u64.to_le_bytes()); // dr6
    page.put(0x170, &0x2u64.to_le_bytes()); // rflags
    page.put(0x178, &u64::from(reset.eip & 0xFFFF).to_le_bytes()); // rip
    page.put(0x268, &registers.g_pat.to_le_bytes());
    page.put(0x310, &registers.rdx.to_le_bytes());
    page.put(0x3B0, &reset.guest_features.0.to_le_bytes()); // sev_features
    page.put(0x3E8, &0x1u64.to_le_bytes()); // xcr0: x87 only
    page.put(0x408, &registers.mxcsr.to_le_bytes());
    page.put(0x410, &registers.x87_fcw.to_le_bytes());
    page.0
}

/// SHA-384 of the vCPU's VMSA page: the CONTENTS of its VMSA PAGE_INFO.
pub fn vmsa_page_hash(reset: &VcpuReset) -> [u8; 48] {
    sha384(&vmsa_page(reset))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §1.7 check values: guest features 0x1, AP EIP 0x80B004.
    #[test]
    fn qemu_vmsa_hashes_match_the_reference() {
        let reset = |eip| VcpuReset {
            eip,
            vmm: VmmType::Qemu,
            vcpu_signature: 0x800F12,
            guest_features: GuestFeatures(0x1),
        };
        assert_eq!(
            hex::encode(vmsa_page_hash(&reset(BSP_EIP))),
            "77920c4c629ff47e90c0e174fc1ad0eb6fa664f88cd4739488058a8c6cb1a77b3856f55378e9518d0da99452d51c553a"
        );
        assert_eq!(
            hex::encode(vmsa_page_hash(&reset(0x80B004))),
            "8413b852790765a310d95867a8b00bfca3a802b5a80830044b45e253fe96222657e11e53fcf63eb0e0afd722385bf7b4"
        );
    }

    /// The notes give only the first and last 4 bytes of the ec2 and gce hashes.
    #[test]
    fn ec2_and_gce_vmsa_hashes_match_the_reference() {
        let cases = [
            (VmmType::Ec2, BSP_EIP, "d08442e8", "3c51f412"),
            (VmmType::Ec2, 0x80B004, "acff2d22", "0a1ed0e1"),
            (VmmType::Gce, BSP_EIP, "f9e03177", "281e7fd2"),
            (VmmType::Gce, 0x80B004, "5302d262", "050c245a"),
        ];
        for (vmm, eip, head, tail) in cases {
            let reset = VcpuReset {
                eip,
                vmm,
                vcpu_signature: 0x800F12,
                guest_features: GuestFeatures(0x1),
            };
            let hash = hex::encode(vmsa_page_hash(&reset));
            assert!(
                hash.starts_with(head) && hash.ends_with(tail),
                "{vmm} eip {eip:#x}: {hash}"
            );
        }
    }

    #[test]
    fn field_offsets() {
        let page = vmsa_page(&VcpuReset {
            eip: 0x80B004,
            vmm: VmmType::Qemu,
            vcpu_signature: 0xA00F11,
            guest_features: GuestFeatures(0x21),
        });
        assert_eq!(page[0x12..0x14], [0x9B, 0]);
        assert_eq!(page[0x18..0x20], 0x800000u64.to_le_bytes());
        assert_eq!(page[0x178..0x180], 0xB004u64.to_le_bytes());
        assert_eq!(page[0x310..0x318], 0xA00F11u64.to_le_bytes());
        assert_eq!(page[0x3B0..0x3B8], 0x21u64.to_le_bytes());
        assert_eq!(page[0x410..0x412], 0x37Fu16.to_le_bytes());
    }
}
