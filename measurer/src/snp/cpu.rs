//! QEMU's AMD EPYC CPU models and the CPUID signature each one puts in the BSP's and APs' RDX at reset,
//! which QEMU guests' VMSAs (and so their launch digests) contain.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SnpError;

/// The CPUID Fn0000_0001_EAX signature of a family/model/stepping, as AMD's CPUID specification (#25481)
/// encodes it: families above 0xF are split into base family 0xF plus an extended family.
/// Out-of-range parts are masked to their field width, as sev-snp-measure does.
pub fn vcpu_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let (base_family, extended_family) = if family > 0xF {
        (0xF, family.wrapping_sub(0xF) & 0xFF)
    } else {
        (family, 0)
    };
    (extended_family << 20)
        | (((model >> 4) & 0xF) << 16)
        | ((base_family & 0xF) << 8)
        | ((model & 0xF) << 4)
        | (stepping & 0xF)
}

/// Every vCPU model name sev-snp-measure 0.0.13 accepts for `--vcpu-type` (QEMU's builtin EPYC models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VcpuType {
    Epyc,
    EpycV1,
    EpycV2,
    EpycIbpb,
    EpycV3,
    EpycV4,
    EpycRome,
    EpycRomeV1,
    EpycRomeV2,
    EpycRomeV3,
    EpycMilan,
    EpycMilanV1,
    EpycMilanV2,
    EpycGenoa,
    EpycGenoaV1,
    EpycTurin,
}

/// Name, type and (family, model, stepping), in sev-snp-measure's order.
const VCPU_TYPES: [(&str, VcpuType, (u32, u32, u32)); 16] = [
    ("EPYC", VcpuType::Epyc, NAPLES),
    ("EPYC-v1", VcpuType::EpycV1, NAPLES),
    ("EPYC-v2", VcpuType::EpycV2, NAPLES),
    ("EPYC-IBPB", VcpuType::EpycIbpb, NAPLES),
    ("EPYC-v3", VcpuType::EpycV3, NAPLES),
    ("EPYC-v4", VcpuType::EpycV4, NAPLES),
    ("EPYC-Rome", VcpuType::EpycRome, ROME),
    ("EPYC-Rome-v1", VcpuType::EpycRomeV1, ROME),
    ("EPYC-Rome-v2", VcpuType::EpycRomeV2, ROME),
    ("EPYC-Rome-v3", VcpuType::EpycRomeV3, ROME),
    ("EPYC-Milan", VcpuType::EpycMilan, MILAN),
    ("EPYC-Milan-v1", VcpuType::EpycMilanV1, MILAN),
    ("EPYC-Milan-v2", VcpuType::EpycMilanV2, MILAN),
    ("EPYC-Genoa", VcpuType::EpycGenoa, GENOA),
    ("EPYC-Genoa-v1", VcpuType::EpycGenoaV1, GENOA),
    ("EPYC-Turin", VcpuType::EpycTurin, TURIN),
];

const NAPLES: (u32, u32, u32) = (23, 1, 2);
const ROME: (u32, u32, u32) = (23, 49, 0);
const MILAN: (u32, u32, u32) = (25, 1, 1);
const GENOA: (u32, u32, u32) = (25, 17, 0);
const TURIN: (u32, u32, u32) = (26, 0, 0);

const ALL_VCPU_TYPES: [VcpuType; 16] = {
    let mut all = [VcpuType::Epyc; 16];
    let mut i = 0;
    while i < VCPU_TYPES.len() {
        all[i] = VCPU_TYPES[i].1;
        i += 1;
    }
    all
};

impl VcpuType {
    /// Every model, in sev-snp-measure's order.
    pub fn all() -> &'static [VcpuType] {
        &ALL_VCPU_TYPES
    }

    /// QEMU's name for the model, exactly as `--vcpu-type` spells it (e.g. `EPYC-Milan-v2`).
    pub fn name(self) -> &'static str {
        self.entry().0
    }

    /// The CPUID signature QEMU reports for this model.
    pub fn signature(self) -> u32 {
        let (family, model, stepping) = self.entry().2;
        vcpu_signature(family, model, stepping)
    }

    fn entry(self) -> &'static (&'static str, VcpuType, (u32, u32, u32)) {
        // The table lists the variants in declaration order, so the discriminant is the index; the
        // fallback is unreachable but keeps this free of a panicking index.
        VCPU_TYPES.get(self as usize).unwrap_or(&VCPU_TYPES[0])
    }
}

impl fmt::Display for VcpuType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for VcpuType {
    type Err = SnpError;

    /// Exact (case-sensitive) names, as sev-snp-measure's `--vcpu-type` choices.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        VCPU_TYPES
            .iter()
            .find(|(known, _, _)| *known == name)
            .map(|(_, vcpu_type, _)| *vcpu_type)
            .ok_or_else(|| SnpError::UnknownVcpuType {
                name: name.to_owned(),
                expected: VCPU_TYPES
                    .iter()
                    .map(|(known, _, _)| *known)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Serialize for VcpuType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for VcpuType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_notes_table() {
        let expected = [
            ("EPYC", 0x800F12),
            ("EPYC-v4", 0x800F12),
            ("EPYC-IBPB", 0x800F12),
            ("EPYC-Rome-v3", 0x830F10),
            ("EPYC-Milan", 0xA00F11),
            ("EPYC-Milan-v2", 0xA00F11),
            ("EPYC-Genoa-v1", 0xA10F10),
            ("EPYC-Turin", 0xB00F00),
        ];
        for (name, signature) in expected {
            let vcpu_type: VcpuType = name.parse().expect("known name");
            assert_eq!(vcpu_type.signature(), signature, "{name}");
        }
        assert_eq!(vcpu_signature(23, 1, 2), 0x800F12);
        assert_eq!(vcpu_signature(0xF, 0x12, 3), 0x10F23);
    }

    #[test]
    fn names_round_trip_and_are_exact() {
        assert_eq!(VcpuType::all().len(), 16);
        for (i, vcpu_type) in VcpuType::all().iter().enumerate() {
            assert_eq!(*vcpu_type as usize, i, "table order must follow the enum");
            let parsed: VcpuType = vcpu_type.to_string().parse().expect("own name parses");
            assert_eq!(parsed, *vcpu_type);
            let json = serde_json::to_string(vcpu_type).expect("serialises");
            assert_eq!(json, format!("\"{}\"", vcpu_type.name()));
        }
        let err = "epyc-v4"
            .parse::<VcpuType>()
            .expect_err("names are case-sensitive like the Python tool");
        assert!(err.to_string().contains("EPYC-Milan-v2"), "{err}");
    }
}
