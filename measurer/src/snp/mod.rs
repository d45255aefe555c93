//! SEV-SNP launch digests.
