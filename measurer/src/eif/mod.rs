//! AWS Nitro Enclave Image Format (EIF).
