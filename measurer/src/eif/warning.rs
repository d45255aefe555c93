//! What the reader notices but does not refuse: departures from what AWS's tools write that AWS's own
//! reader (aws-nitro-enclaves-image-format 0.8.1) ignores and that no PCR depends on. Refusing them would
//! make `mpr eif describe` fail on EIFs that nitro-cli describes, so they are reported instead.

use serde::Serialize;

use super::SectionKind;

/// One departure from AWS's writer that does not change the PCRs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "warning", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EifWarning {
    #[error("header table slot {index} is unused (the header declares {num_sections} sections) but holds offset {offset} and size {size}; AWS's tools write zeros there and AWS's reader ignores the slot, so no PCR depends on it")]
    UnusedSlotNotZero {
        index: usize,
        num_sections: u16,
        offset: u64,
        size: u64,
    },

    #[error("the header's {field} field (byte {offset:#x}) is {value:#x}, not 0; AWS's tools write 0 and AWS's reader ignores it, so no PCR depends on it")]
    HeaderFieldNotZero {
        field: &'static str,
        offset: usize,
        value: u32,
    },

    #[error("section {index} ({kind}) has section flags {flags:#06x}, where AWS's tools write 0; AWS's reader ignores section flags, so the PCRs do not depend on them, but whether the Nitro hypervisor accepts them is not documented")]
    SectionFlags {
        index: usize,
        kind: SectionKind,
        flags: u16,
    },

    #[error("the metadata section is not nitro-cli's identity metadata ({reason}); it is shown as stored, and it is not measured, so the PCRs do not depend on it")]
    ForeignMetadata { reason: String },
}
