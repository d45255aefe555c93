//! The 1184-byte SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI, "ATTESTATION_REPORT Structure").

use crate::signature::{EcdsaP384Key, P384_FIXED_SIGNATURE_BYTES};

use super::{SigningKeyKind, SnpError};

/// Size of an ATTESTATION_REPORT; anything else is rejected.
pub const REPORT_BYTES: usize = 1184;
/// The signature covers bytes `0x000..SIGNED_BYTES`.
pub const SIGNED_BYTES: usize = 0x2a0;
/// Start of the reserved tail after the signature field; it is not signed, so it must be zero.
const RESERVED_TAIL: usize = 0x330;
const SIGNATURE_COMPONENT_BYTES: usize = 72;
const SCALAR_BYTES: usize = 48;
const POLICY_DEBUG_BIT: u64 = 1 << 19;

/// A parsed (not yet verified) SEV-SNP attestation report. Integers are little-endian in the
/// report; TCB fields stay raw because their layout depends on the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpReport {
    pub version: u32,
    pub guest_svn: u32,
    pub policy: u64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub signature_algo: u32,
    pub current_tcb: u64,
    pub platform_info: u64,
    /// Raw word at 0x48: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 2–4 SIGNING_KEY.
    pub flags: u32,
    /// SIGNING_KEY (flags bits 2–4): `None` when the report is unsigned (7) or names a value
    /// this verifier does not know.
    pub signing_key: Option<SigningKeyKind>,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub id_key_digest: [u8; 48],
    pub author_key_digest: [u8; 48],
    pub report_id: [u8; 32],
    pub report_id_ma: [u8; 32],
    pub reported_tcb: u64,
    /// CPUID family, model, stepping: only in version ≥ 3 reports.
    pub cpuid: Option<(u8, u8, u8)>,
    pub chip_id: [u8; 64],
    pub committed_tcb: u64,
    /// (build, minor, major) of the current and committed firmware.
    pub current_firmware: (u8, u8, u8),
    pub committed_firmware: (u8, u8, u8),
    pub launch_tcb: u64,
    /// LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR: only in version ≥ 5 reports.
    pub mitigation_vectors: Option<(u64, u64)>,
    bytes: Box<[u8; REPORT_BYTES]>,
}

/// Parses a report strictly: exactly [`REPORT_BYTES`] bytes, version 2 to 5, signature algorithm
/// 1 (ECDSA P-384/SHA-384), the unused top 24 bytes of R and S zero and the reserved tail from
/// 0x330 zero. It verifies no signature; use [`super::verify_report`] for that.
pub fn parse_report(bytes: &[u8]) -> Result<SnpReport, SnpError> {
    let bytes: Box<[u8; REPORT_BYTES]> =
        bytes
            .to_vec()
            .into_boxed_slice()
            .try_into()
            .map_err(|b: Box<[u8]>| {
                SnpError::MalformedReport(format!(
                    "{} bytes, expected exactly {REPORT_BYTES}",
                    b.len()
                ))
            })?;
    let r = Reader(&bytes);
    let version = r.u32(0x000);
    if !(2..=5).contains(&version) {
        return Err(SnpError::UnsupportedVersion(version));
    }
    let signature_algo = r.u32(0x034);
    if signature_algo != 1 {
        return Err(SnpError::UnsupportedSignatureAlgorithm(signature_algo));
    }
    for component in [0x2a0, 0x2e8] {
        let padding = component + SCALAR_BYTES..component + SIGNATURE_COMPONENT_BYTES;
        if let Some(offset) = first_nonzero(&bytes[padding.clone()]) {
            return Err(SnpError::ReservedNonZero(padding.start + offset));
        }
    }
    if let Some(offset) = first_nonzero(&bytes[RESERVED_TAIL..]) {
        return Err(SnpError::ReservedNonZero(RESERVED_TAIL + offset));
    }
    let flags = r.u32(0x048);
    let signing_key = match (flags >> 2) & 0b111 {
        0 => Some(SigningKeyKind::Vcek),
        1 => Some(SigningKeyKind::Vlek),
        _ => None,
    };
    let cpuid = (version >= 3).then(|| (bytes[0x188], bytes[0x189], bytes[0x18a]));
    let mitigation_vectors = (version >= 5).then(|| (r.u64(0x1f8), r.u64(0x200)));
    Ok(SnpReport {
        version,
        guest_svn: r.u32(0x004),
        policy: r.u64(0x008),
        family_id: r.array(0x010),
        image_id: r.array(0x020),
        vmpl: r.u32(0x030),
        signature_algo,
        current_tcb: r.u64(0x038),
        platform_info: r.u64(0x040),
        flags,
        signing_key,
        report_data: r.array(0x050),
        measurement: r.array(0x090),
        host_data: r.array(0x0c0),
        id_key_digest: r.array(0x0e0),
        author_key_digest: r.array(0x110),
        report_id: r.array(0x140),
        report_id_ma: r.array(0x160),
        reported_tcb: r.u64(0x180),
        cpuid,
        chip_id: r.array(0x1a0),
        committed_tcb: r.u64(0x1e0),
        current_firmware: (bytes[0x1e8], bytes[0x1e9], bytes[0x1ea]),
        committed_firmware: (bytes[0x1ec], bytes[0x1ed], bytes[0x1ee]),
        launch_tcb: r.u64(0x1f0),
        mitigation_vectors,
        bytes,
    })
}

impl SnpReport {
    /// Whether the guest policy lets the host debug the guest (policy bit 19). A debuggable
    /// guest's memory can be read and changed by the host, so its report proves nothing.
    pub fn debug_allowed(&self) -> bool {
        self.policy & POLICY_DEBUG_BIT != 0
    }

    /// The bytes the signature covers (`0x000..0x2A0`).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..SIGNED_BYTES]
    }

    /// The whole report as it was parsed.
    pub fn as_bytes(&self) -> &[u8; REPORT_BYTES] {
        &self.bytes
    }

    /// The ECDSA signature: R and S are 72-byte little-endian fields whose low 48 bytes hold
    /// the P-384 scalars (the high 24 were checked to be zero when parsing).
    fn signature(&self) -> [u8; P384_FIXED_SIGNATURE_BYTES] {
        let mut big_endian = [0u8; 2 * SCALAR_BYTES];
        for (i, component) in [0x2a0, 0x2e8].into_iter().enumerate() {
            let little = &self.bytes[component..component + SCALAR_BYTES];
            for (dst, src) in big_endian[i * SCALAR_BYTES..(i + 1) * SCALAR_BYTES]
                .iter_mut()
                .zip(little.iter().rev())
            {
                *dst = *src;
            }
        }
        big_endian
    }

    /// Checks the report signature (ECDSA P-384, SHA-384 over [`Self::signed_bytes`]).
    pub(crate) fn verify_signature(
        &self,
        key: &EcdsaP384Key,
        signer: &'static str,
    ) -> Result<(), SnpError> {
        key.verify_fixed(self.signed_bytes(), &self.signature())
            .map_err(|_| SnpError::Signature(signer))
    }
}

fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b != 0)
}

/// Fixed-offset reads from a buffer whose size the type guarantees, so no read can fail.
struct Reader<'a>(&'a [u8; REPORT_BYTES]);

impl Reader<'_> {
    fn array<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.0[offset..offset + N]);
        out
    }
    fn u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.array(offset))
    }
    fn u64(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.array(offset))
    }
}
