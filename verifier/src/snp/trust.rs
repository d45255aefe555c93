//! What a verifier trusts: pinned AMD roots, debug and TCB policy, revocation settings; and
//! AMD's public ARK/ASK/ASVK certificates built into the crate.

use super::{Product, SigningKeyKind, Tcb};

/// SHA-256 of the DER of AMD's ARK-Milan, ARK-Genoa and ARK-Turin (as served by AMD KDS).
pub const AMD_ARK_SHA256: [[u8; 32]; 3] = [
    hex_literal("69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"),
    hex_literal("4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"),
    hex_literal("1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"),
];

/// Trust settings for [`super::verify_report`]. `Default` is what a wallet should use: AMD's
/// three roots, no debug, CRL checking on (so CRLs must be supplied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpTrust {
    /// SHA-256 fingerprints of acceptable ARK certificates (DER).
    pub ark_sha256: Vec<[u8; 32]>,
    /// Accept guests whose policy allows debugging. Only for tests.
    pub allow_debug: bool,
    /// Every component of REPORTED_TCB must be at least this (FMC only compared on Turin).
    pub min_tcb: Option<Tcb>,
    /// Require a CRL signed by the product's ARK and check the chain against it.
    pub check_crl: bool,
    /// DER CRLs from AMD KDS (`https://kdsintf.amd.com/vcek/v1/{product}/crl`, or `/vlek/`).
    pub crls: Vec<Vec<u8>>,
}

impl Default for SnpTrust {
    fn default() -> Self {
        SnpTrust {
            ark_sha256: AMD_ARK_SHA256.to_vec(),
            allow_debug: false,
            min_tcb: None,
            check_crl: true,
            crls: Vec::new(),
        }
    }
}

/// AMD's intermediate (ASK for VCEKs, ASVK for VLEKs) and ARK for a product, PEM.
pub(crate) fn builtin_pems(product: Product, kind: SigningKeyKind) -> (&'static str, &'static str) {
    macro_rules! root {
        ($file:literal) => {
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/roots/amd/", $file))
        };
    }
    match (product, kind) {
        (Product::Milan, SigningKeyKind::Vcek) => (root!("ask-milan.pem"), root!("ark-milan.pem")),
        (Product::Milan, SigningKeyKind::Vlek) => (root!("asvk-milan.pem"), root!("ark-milan.pem")),
        (Product::Genoa, SigningKeyKind::Vcek) => (root!("ask-genoa.pem"), root!("ark-genoa.pem")),
        (Product::Genoa, SigningKeyKind::Vlek) => (root!("asvk-genoa.pem"), root!("ark-genoa.pem")),
        (Product::Turin, SigningKeyKind::Vcek) => (root!("ask-turin.pem"), root!("ark-turin.pem")),
        (Product::Turin, SigningKeyKind::Vlek) => (root!("asvk-turin.pem"), root!("ark-turin.pem")),
    }
}

pub(crate) const fn hex_literal(text: &str) -> [u8; 32] {
    let text = text.as_bytes();
    assert!(text.len() == 64, "a SHA-256 fingerprint has 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 64 {
        let v = match text[i] {
            b'0'..=b'9' => text[i] - b'0',
            b'a'..=b'f' => text[i] - b'a' + 10,
            _ => panic!("bad hex digit"),
        };
        out[i / 2] |= if i % 2 == 0 { v << 4 } else { v };
        i += 1;
    }
    out
}
