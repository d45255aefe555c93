//! Signing a manifest as a publisher would, with a key made for the test.

use std::io::Write;

pub struct Signer {
    cert: sequoia_openpgp::Cert,
    pub fingerprint: String,
}

impl Signer {
    pub fn generate(user_id: &str) -> Signer {
        use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
        let (cert, _revocation) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
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

    /// An ASCII-armored detached signature of `data`, as `gpg --armor --detach-sign` makes.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
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
            .detached()
            .build()
            .expect("signer");
        signer.write_all(data).expect("sign");
        signer.finalize().expect("finish the signature");
        signature
    }
}
