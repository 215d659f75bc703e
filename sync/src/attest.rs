//! Attestations: every change a node makes is vouched for by that node's
//! signature over the change hash. The signature lives beside the change,
//! keyed by its hash, because a change's hash covers its own bytes.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain separation, so a node's signature over a change hash can never be
/// mistaken for its signature over anything else.
const CONTEXT: &[u8] = b"motcua change attestation v1\0";

/// A node's signature over one Automerge change hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The signing node's public key (its node id).
    pub signer: [u8; 32],
    #[serde(with = "sig_bytes")]
    pub signature: [u8; 64],
}

pub(crate) mod sig_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let v: Vec<u8> = Vec::deserialize(d)?;
        v.try_into().map_err(|_| serde::de::Error::custom("a signature is 64 bytes"))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttestError {
    #[error("signer key is not a valid ed25519 public key")]
    BadKey,
    #[error("signature does not verify for this change")]
    BadSignature,
    #[error("attestation is {0} bytes; it must be 96")]
    BadLength(usize),
}

fn message(change_hash: &[u8; 32]) -> [u8; 61] {
    let mut m = [0u8; 61];
    m[..29].copy_from_slice(CONTEXT);
    m[29..].copy_from_slice(change_hash);
    m
}

/// Signs a change hash.
pub fn attest(key: &SigningKey, change_hash: &[u8; 32]) -> Attestation {
    Attestation { signer: key.verifying_key().to_bytes(), signature: key.sign(&message(change_hash)).to_bytes() }
}

/// Verifies an attestation for a change hash (strict: no malleable
/// signatures, no small-order keys).
pub fn verify(a: &Attestation, change_hash: &[u8; 32]) -> Result<(), AttestError> {
    let key = VerifyingKey::from_bytes(&a.signer).map_err(|_| AttestError::BadKey)?;
    key.verify_strict(&message(change_hash), &Signature::from_bytes(&a.signature))
        .map_err(|_| AttestError::BadSignature)
}

impl Attestation {
    /// Fixed 96-byte form: signer then signature.
    pub fn to_bytes(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        out[..32].copy_from_slice(&self.signer);
        out[32..].copy_from_slice(&self.signature);
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, AttestError> {
        if b.len() != 96 {
            return Err(AttestError::BadLength(b.len()));
        }
        let mut signer = [0u8; 32];
        signer.copy_from_slice(&b[..32]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[32..]);
        Ok(Attestation { signer, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestations_verify_only_for_their_change_and_signer() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let other = SigningKey::from_bytes(&[4; 32]);
        let h = [9u8; 32];
        let a = attest(&key, &h);
        assert_eq!(verify(&a, &h), Ok(()));
        assert_eq!(verify(&a, &[8u8; 32]), Err(AttestError::BadSignature));
        let forged = Attestation { signer: other.verifying_key().to_bytes(), ..a };
        assert_eq!(verify(&forged, &h), Err(AttestError::BadSignature));
        let mut flipped = a;
        flipped.signature[0] ^= 1;
        assert_eq!(verify(&flipped, &h), Err(AttestError::BadSignature));
        assert_eq!(Attestation::from_bytes(&a.to_bytes()), Ok(a));
        assert_eq!(Attestation::from_bytes(&[0; 95]), Err(AttestError::BadLength(95)));
    }
}
