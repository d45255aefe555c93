//! The launch parameters that change a VMSA besides the vCPU model: the VMM and the guest features.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SnpError;

/// Which VMM launches the guest: each sets up the vCPU registers (and for gce the firmware's scratch
/// memory, for ec2 the CPUID page order) slightly differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmmType {
    #[default]
    Qemu,
    Ec2,
    Gce,
}

impl VmmType {
    pub const ALL: [VmmType; 3] = [VmmType::Qemu, VmmType::Ec2, VmmType::Gce];

    /// The spelling sev-snp-measure's `--vmm-type` requires (it is case-sensitive: `QEMU`, `ec2`, `gce`).
    pub fn reference_name(self) -> &'static str {
        match self {
            VmmType::Qemu => "QEMU",
            VmmType::Ec2 => "ec2",
            VmmType::Gce => "gce",
        }
    }

    fn name(self) -> &'static str {
        match self {
            VmmType::Qemu => "qemu",
            VmmType::Ec2 => "ec2",
            VmmType::Gce => "gce",
        }
    }
}

impl fmt::Display for VmmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for VmmType {
    type Err = SnpError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        VmmType::ALL
            .into_iter()
            .find(|vmm| vmm.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| SnpError::UnknownVmmType {
                name: name.to_owned(),
            })
    }
}

/// The SEV features the guest kernel enables (the VMSA's SEV_FEATURES field): bit 0 SNPActive, bit 5
/// DebugSwap, ... sev-snp-measure's default is 0x1 (host kernels >= 6.8); hosts on 6.6-6.7 use 0x21.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestFeatures(pub u64);

impl GuestFeatures {
    /// sev-snp-measure's `--guest-features` default.
    pub const DEFAULT: GuestFeatures = GuestFeatures(0x1);
}

impl Default for GuestFeatures {
    fn default() -> Self {
        GuestFeatures::DEFAULT
    }
}

impl fmt::Display for GuestFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl FromStr for GuestFeatures {
    type Err = SnpError;

    /// Reads the value the way sev-snp-measure does (Python's `int(text, 0)`), so the same argument means
    /// the same features in both tools: `0x21` is hex, `0o41` octal, `0b100001` binary, and a bare `21`
    /// is *decimal* twenty-one; underscores may separate digits; a bare number may not start with 0.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_python_int(text)
            .map(GuestFeatures)
            .ok_or_else(|| SnpError::InvalidGuestFeatures {
                text: text.to_owned(),
            })
    }
}

/// Python's `int(text, 0)` restricted to values that fit in a u64: how sev-snp-measure reads every
/// number on its command line.
pub fn parse_python_int(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let prefixed = |upper: &str, lower: &str| {
        text.strip_prefix(upper)
            .or_else(|| text.strip_prefix(lower))
    };
    let (radix, digits) = if let Some(rest) = prefixed("0x", "0X") {
        (16, rest.strip_prefix('_').unwrap_or(rest))
    } else if let Some(rest) = prefixed("0o", "0O") {
        (8, rest.strip_prefix('_').unwrap_or(rest))
    } else if let Some(rest) = prefixed("0b", "0B") {
        (2, rest.strip_prefix('_').unwrap_or(rest))
    } else {
        // Python rejects decimal literals with leading zeros ("010") unless the value is zero ("00").
        if text.starts_with('0') && text.chars().any(|c| c != '0' && c != '_') {
            return None;
        }
        (10, text)
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: u64 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        let digit = c.to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(digit))?;
    }
    Some(value)
}

impl Serialize for GuestFeatures {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GuestFeatures {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_features_parse_like_python_int_base_0() {
        let accepted = [
            ("0x21", 0x21),
            ("0X21", 0x21),
            ("0x_21", 0x21),
            ("33", 33),
            ("21", 21),
            (" 0x1 ", 1),
            ("+0x1", 1),
            ("0", 0),
            ("00", 0),
            ("0b100001", 0x21),
            ("0o41", 0x21),
            ("1_000", 1000),
            ("0xffffffffffffffff", u64::MAX),
        ];
        for (text, value) in accepted {
            assert_eq!(
                text.parse::<GuestFeatures>().ok(),
                Some(GuestFeatures(value)),
                "{text:?}"
            );
        }
        let rejected = [
            "",
            "0x",
            "010",
            "-1",
            "0x1_",
            "1__0",
            "_1",
            "0x10000000000000000",
            "21h",
            "0xg",
        ];
        for text in rejected {
            let err = text.parse::<GuestFeatures>().expect_err(text);
            assert!(err.to_string().contains("0x21"), "{err}");
        }
    }

    #[test]
    fn guest_features_display_and_serde_as_hex() {
        assert_eq!(GuestFeatures(0x21).to_string(), "0x21");
        assert_eq!(
            serde_json::to_string(&GuestFeatures(1)).ok().as_deref(),
            Some("\"0x1\"")
        );
        let back: GuestFeatures =
            serde_json::from_str("\"0x21\"").expect("hex string deserialises");
        assert_eq!(back, GuestFeatures(0x21));
        assert_eq!(GuestFeatures::default(), GuestFeatures(1));
    }

    #[test]
    fn vmm_type_names() {
        for (text, vmm) in [
            ("qemu", VmmType::Qemu),
            ("QEMU", VmmType::Qemu),
            ("EC2", VmmType::Ec2),
            ("gce", VmmType::Gce),
        ] {
            assert_eq!(text.parse::<VmmType>().ok(), Some(vmm), "{text}");
        }
        assert!("kvm".parse::<VmmType>().is_err());
        assert_eq!(VmmType::Ec2.to_string(), "ec2");
        assert_eq!(
            serde_json::to_string(&VmmType::Qemu).ok().as_deref(),
            Some("\"qemu\"")
        );
        assert_eq!(VmmType::Qemu.reference_name(), "QEMU");
    }
}
