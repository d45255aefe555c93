//! SHA-384, the hash every Nitro PCR and SEV-SNP measurement is made of. Every SHA-384 the measurer
//! computes goes through this module, so there is one implementation to choose, test and benchmark.
//!
//! The implementation is OpenSSL's libcrypto, through the `openssl` crate. Measured on the development
//! machine (AMD EPYC, Zen 3, AVX2 + BMI2; ci/bench.sh and BENCHMARKS.md), one thread hashing 256 MiB:
//! OpenSSL ~730 MB/s, `sha2` 0.10 (its AVX2 backend, the same with the `asm` feature on AVX2 CPUs)
//! ~520 MB/s, `ring` 0.17 ~515 MB/s. OpenSSL picks its AVX2 + BMI2 code on any CPU that has them;
//! `ring` (and aws-lc) use their vector code on Intel CPUs only, and `sha2`'s AVX2 path only vectorises
//! the message schedule. A PCR is one sequential SHA-384 chain over the whole image, so no number of
//! threads can make up the difference: with anything slower, `mpr eif describe` could not stay close
//! to one `openssl dgst -sha384` pass over the file.

/// An incremental SHA-384. Cloning forks the state (PCR1 is a prefix of PCR0's input).
#[derive(Clone)]
pub struct Sha384(openssl::sha::Sha384);

impl Sha384 {
    pub fn new() -> Sha384 {
        Sha384(openssl::sha::Sha384::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 48] {
        self.0.finish()
    }
}

impl Default for Sha384 {
    fn default() -> Self {
        Sha384::new()
    }
}

/// SHA-384 of one message held in memory.
pub fn sha384(bytes: &[u8]) -> [u8; 48] {
    // Not `openssl::sha::sha384`: OpenSSL 3 implements its one-shot SHA384() with EVP_Q_digest, which
    // fetches the algorithm from a provider on every call (locks, a hash-table lookup, an allocation,
    // and the library's configuration loaded on first use): several times the cost of hashing a
    // 112-byte PAGE_INFO, and a millisecond at start-up. The incremental API goes straight to the code.
    let mut hasher = Sha384::new();
    hasher.update(bytes);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2 appendix D vectors, checked through both entry points and across odd update splits.
    #[test]
    fn fips_vectors() {
        let abc = "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7";
        let two_block = "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039";
        let million_a = "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985";
        assert_eq!(hex::encode(sha384(b"abc")), abc);
        let message = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        assert_eq!(hex::encode(sha384(message)), two_block);
        let mut split = Sha384::new();
        for piece in message.chunks(7) {
            split.update(piece);
        }
        assert_eq!(hex::encode(split.finish()), two_block);
        let mut million = Sha384::default();
        for _ in 0..1000 {
            million.update(&[b'a'; 1000]);
        }
        assert_eq!(hex::encode(million.finish()), million_a);
    }

    #[test]
    fn a_clone_continues_independently() {
        let mut prefix = Sha384::new();
        prefix.update(b"ab");
        let mut fork = prefix.clone();
        prefix.update(b"c");
        fork.update(b"d");
        assert_eq!(prefix.finish(), sha384(b"abc"));
        assert_eq!(fork.finish(), sha384(b"abd"));
    }
}
