//! OpenPGP keys made for a test (sequoia), signing as `gpg --armor --detach-sign` does, at a
//! chosen time when the test needs an order between signatures.

use std::io::Write;
use std::time::{Duration, SystemTime};

pub struct Signer {
    cert: sequoia_openpgp::Cert,
    pub fingerprint: String,
}

impl Signer {
    /// A key created an hour ago, so that signatures may be dated up to an hour back.
    pub fn generate(user_id: &str) -> Signer {
        use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
        let (cert, _revocation) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(SystemTime::now() - Duration::from_secs(3600))
            .add_userid(user_id)
            .add_signing_subkey()
            .generate()
            .expect("generate an Ed25519 key");
        let fingerprint = cert.fingerprint().to_hex();
        Signer { cert, fingerprint }
    }

    pub fn armored_public_key(&self) -> Vec<u8> {
        use sequoia_openpgp::serialize::SerializeInto;
        self.cert.armored().to_vec().expect("armor the public key")
    }

    /// An ASCII-armored detached signature of `data`, made now.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.sign_at(data, SystemTime::now())
    }

    /// An ASCII-armored detached signature of `data` dated `time`.
    pub fn sign_at(&self, data: &[u8], time: SystemTime) -> Vec<u8> {
        use sequoia_openpgp::serialize::stream::{Armorer, Message, Signer as StreamSigner};
        let policy = sequoia_openpgp::policy::StandardPolicy::new();
        let key = self
            .cert
            .keys()
            .with_policy(&policy, None)
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .secret()
            .next()
            .expect("a signing subkey");
        let keypair = key.key().clone().into_keypair().expect("key pair");
        let mut signature = Vec::new();
        let message = Message::new(&mut signature);
        let message = Armorer::new(message)
            .kind(sequoia_openpgp::armor::Kind::Signature)
            .build()
            .expect("armorer");
        let mut signer = StreamSigner::new(message, keypair)
            .expect("signer")
            .creation_time(time)
            .detached()
            .build()
            .expect("signer");
        signer.write_all(data).expect("sign");
        signer.finalize().expect("finish the signature");
        signature
    }
}
