//! Names for TPM_RC response codes (TPM 2.0 Library Part 2, 6.6), so an error says "TPM_RC_HANDLE
//! (handle 1)" rather than a number an operator has to look up.

/// Format-one codes (bit 7 set): the error number is the low 6 bits; bits 8-11 say which handle,
/// session or parameter was at fault.
const FORMAT_ONE: &[(u32, &str)] = &[
    (0x01, "TPM_RC_ASYMMETRIC"),
    (0x02, "TPM_RC_ATTRIBUTES"),
    (0x03, "TPM_RC_HASH"),
    (0x04, "TPM_RC_VALUE"),
    (0x05, "TPM_RC_HIERARCHY"),
    (0x07, "TPM_RC_KEY_SIZE"),
    (0x08, "TPM_RC_MGF"),
    (0x09, "TPM_RC_MODE"),
    (0x0A, "TPM_RC_TYPE"),
    (0x0B, "TPM_RC_HANDLE"),
    (0x0C, "TPM_RC_KDF"),
    (0x0D, "TPM_RC_RANGE"),
    (0x0E, "TPM_RC_AUTH_FAIL"),
    (0x0F, "TPM_RC_NONCE"),
    (0x10, "TPM_RC_PP"),
    (0x12, "TPM_RC_SCHEME"),
    (0x15, "TPM_RC_SIZE"),
    (0x16, "TPM_RC_SYMMETRIC"),
    (0x17, "TPM_RC_TAG"),
    (0x18, "TPM_RC_SELECTOR"),
    (0x1A, "TPM_RC_INSUFFICIENT"),
    (0x1B, "TPM_RC_SIGNATURE"),
    (0x1C, "TPM_RC_KEY"),
    (0x1D, "TPM_RC_POLICY_FAIL"),
    (0x1F, "TPM_RC_INTEGRITY"),
    (0x20, "TPM_RC_TICKET"),
    (0x21, "TPM_RC_RESERVED_BITS"),
    (0x22, "TPM_RC_BAD_AUTH"),
    (0x23, "TPM_RC_EXPIRED"),
    (0x24, "TPM_RC_POLICY_CC"),
    (0x25, "TPM_RC_BINDING"),
    (0x26, "TPM_RC_CURVE"),
    (0x27, "TPM_RC_ECC_POINT"),
];

/// Format-zero errors (RC_VER1 = 0x100 plus the number).
const VER1: &[(u32, &str)] = &[
    (0x000, "TPM_RC_INITIALIZE"),
    (0x001, "TPM_RC_FAILURE"),
    (0x003, "TPM_RC_SEQUENCE"),
    (0x00B, "TPM_RC_PRIVATE"),
    (0x019, "TPM_RC_HMAC"),
    (0x020, "TPM_RC_DISABLED"),
    (0x021, "TPM_RC_EXCLUSIVE"),
    (0x024, "TPM_RC_AUTH_TYPE"),
    (0x025, "TPM_RC_AUTH_MISSING"),
    (0x026, "TPM_RC_POLICY"),
    (0x027, "TPM_RC_PCR"),
    (0x028, "TPM_RC_PCR_CHANGED"),
    (0x02D, "TPM_RC_UPGRADE"),
    (0x02E, "TPM_RC_TOO_MANY_CONTEXTS"),
    (0x02F, "TPM_RC_AUTH_UNAVAILABLE"),
    (0x030, "TPM_RC_REBOOT"),
    (0x031, "TPM_RC_UNBALANCED"),
    (0x042, "TPM_RC_COMMAND_SIZE"),
    (0x043, "TPM_RC_COMMAND_CODE"),
    (0x044, "TPM_RC_AUTHSIZE"),
    (0x045, "TPM_RC_AUTH_CONTEXT"),
    (0x046, "TPM_RC_NV_RANGE"),
    (0x047, "TPM_RC_NV_SIZE"),
    (0x048, "TPM_RC_NV_LOCKED"),
    (0x049, "TPM_RC_NV_AUTHORIZATION"),
    (0x04A, "TPM_RC_NV_UNINITIALIZED"),
    (0x04B, "TPM_RC_NV_SPACE"),
    (0x04C, "TPM_RC_NV_DEFINED"),
    (0x050, "TPM_RC_BAD_CONTEXT"),
    (0x051, "TPM_RC_CPHASH"),
    (0x052, "TPM_RC_PARENT"),
    (0x053, "TPM_RC_NEEDS_TEST"),
    (0x054, "TPM_RC_NO_RESULT"),
    (0x055, "TPM_RC_SENSITIVE"),
];

/// Format-zero warnings (RC_WARN = 0x900 plus the number).
const WARN: &[(u32, &str)] = &[
    (0x001, "TPM_RC_CONTEXT_GAP"),
    (0x002, "TPM_RC_OBJECT_MEMORY"),
    (0x003, "TPM_RC_SESSION_MEMORY"),
    (0x004, "TPM_RC_MEMORY"),
    (0x005, "TPM_RC_SESSION_HANDLES"),
    (0x006, "TPM_RC_OBJECT_HANDLES"),
    (0x007, "TPM_RC_LOCALITY"),
    (0x008, "TPM_RC_YIELDED"),
    (0x009, "TPM_RC_CANCELED"),
    (0x00A, "TPM_RC_TESTING"),
    (0x010, "TPM_RC_REFERENCE_H0"),
    (0x011, "TPM_RC_REFERENCE_H1"),
    (0x012, "TPM_RC_REFERENCE_H2"),
    (0x013, "TPM_RC_REFERENCE_H3"),
    (0x014, "TPM_RC_REFERENCE_H4"),
    (0x015, "TPM_RC_REFERENCE_H5"),
    (0x016, "TPM_RC_REFERENCE_H6"),
    (0x018, "TPM_RC_REFERENCE_S0"),
    (0x019, "TPM_RC_REFERENCE_S1"),
    (0x01A, "TPM_RC_REFERENCE_S2"),
    (0x01B, "TPM_RC_REFERENCE_S3"),
    (0x01C, "TPM_RC_REFERENCE_S4"),
    (0x01D, "TPM_RC_REFERENCE_S5"),
    (0x01E, "TPM_RC_REFERENCE_S6"),
    (0x020, "TPM_RC_NV_RATE"),
    (0x021, "TPM_RC_LOCKOUT"),
    (0x022, "TPM_RC_RETRY"),
    (0x023, "TPM_RC_NV_UNAVAILABLE"),
];

const FORMAT_ONE_BIT: u32 = 0x080;
const PARAMETER_BIT: u32 = 0x040;
const SESSION_BIT: u32 = 0x800;
const VER1_BIT: u32 = 0x100;
const VENDOR_BIT: u32 = 0x400;
const WARN_BIT: u32 = 0x800;

/// TPM_RC_HANDLE in format one, whichever handle it names: how NV_ReadPublic and ReadPublic say
/// "no such index/object".
pub fn is_handle_error(rc: u32) -> bool {
    rc & FORMAT_ONE_BIT != 0 && rc & 0x3F == 0x0B && rc & PARAMETER_BIT == 0
}

/// Warnings after which the same command may simply be sent again (Part 2, 6.6.3).
pub fn is_retryable(rc: u32) -> bool {
    matches!(rc, 0x908 | 0x90A | 0x922)
}

/// "TPM_RC_HANDLE (handle 1)", "TPM_RC_NV_UNINITIALIZED", or a description of an unknown code.
pub fn describe(rc: u32) -> String {
    if rc & FORMAT_ONE_BIT != 0 {
        let name = lookup(FORMAT_ONE, rc & 0x3F).unwrap_or("an unknown format-one error");
        let n = (rc >> 8) & 0x7;
        let place = if rc & PARAMETER_BIT != 0 {
            format!("parameter {}", (rc >> 8) & 0xF)
        } else if rc & SESSION_BIT != 0 {
            format!("session {n}")
        } else if n != 0 {
            format!("handle {n}")
        } else {
            return name.to_string();
        };
        return format!("{name} ({place})");
    }
    if rc & VER1_BIT == 0 {
        return "a TPM 1.2 response code".to_string();
    }
    if rc & VENDOR_BIT != 0 {
        return "a vendor-defined response code".to_string();
    }
    let table = if rc & WARN_BIT != 0 { WARN } else { VER1 };
    lookup(table, rc & 0x7F)
        .map(str::to_string)
        .unwrap_or_else(|| "an unknown format-zero response code".to_string())
}

fn lookup(table: &[(u32, &'static str)], number: u32) -> Option<&'static str> {
    table
        .iter()
        .find(|(code, _)| *code == number)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_codes_a_quote_or_nv_read_meets() {
        assert_eq!(describe(0x18B), "TPM_RC_HANDLE (handle 1)");
        assert!(is_handle_error(0x18B) && is_handle_error(0x28B));
        assert_eq!(describe(0x1C4), "TPM_RC_VALUE (parameter 1)");
        assert!(!is_handle_error(0x1CB));
        assert_eq!(describe(0x98E), "TPM_RC_AUTH_FAIL (session 1)");
        assert_eq!(describe(0x14A), "TPM_RC_NV_UNINITIALIZED");
        assert_eq!(describe(0x101), "TPM_RC_FAILURE");
        assert_eq!(describe(0x902), "TPM_RC_OBJECT_MEMORY");
        assert_eq!(describe(0x910), "TPM_RC_REFERENCE_H0");
        assert!(is_retryable(0x922) && !is_retryable(0x101));
        assert_eq!(describe(0x2A), "a TPM 1.2 response code");
        assert_eq!(describe(0x500), "a vendor-defined response code");
        assert_eq!(describe(0x0A2), "TPM_RC_BAD_AUTH");
    }
}
