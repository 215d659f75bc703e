//! The node's identity: an ed25519 key created on first start, kept in
//! `node.key` (mode 0600) in the data directory. Its public key is the
//! node id (the iroh endpoint id). The Automerge actor of every change
//! this node makes is that key followed by an incarnation drawn when the
//! key is loaded (`motcua_domain::actor`): a node restored from an old copy
//! of its data directory writes as a new actor, and so never signs a
//! second change under a sequence number it used before (a fork).

use std::path::Path;

use crate::error::OpenError;
use automerge::ActorId;
use ed25519_dalek::SigningKey;
use motcua_domain::actor::INCARNATION_BYTES;
use motcua_sync::attest::{Attestation, attest};

pub const KEY_FILE: &str = "node.key";

pub struct Identity {
    key: SigningKey,
    id_hex: String,
    incarnation: [u8; INCARNATION_BYTES],
}

impl Identity {
    /// Loads the key of a data directory, creating it if there is none.
    pub fn load_or_create(dir: &Path) -> Result<Identity, OpenError> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| OpenError::new(format!("cannot read {}: {e}", path.display())))?;
            let bytes = hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| OpenError::new(format!("{} does not hold a node key", path.display())))?;
            return Ok(Self::from_key(SigningKey::from_bytes(&bytes)));
        }
        let key = SigningKey::generate(&mut rand::rng());
        motcua_store::files::write_atomically(&path, hex::encode(key.to_bytes()).as_bytes(), true)
            .map_err(|e| OpenError::new(format!("cannot write {}: {e}", path.display())))?;
        Ok(Self::from_key(key))
    }

    pub fn from_key(key: SigningKey) -> Identity {
        let id_hex = hex::encode(key.verifying_key().to_bytes());
        Identity { key, id_hex, incarnation: rand::random() }
    }

    /// The node id: 64 hex digits of the public key.
    pub fn node_id(&self) -> &str {
        &self.id_hex
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The secret key bytes, for the iroh endpoint (whose key is this key).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key of the store's applicant index, derived from this node's
    /// secret: the index of a store copied without `node.key` cannot be
    /// searched by identity number.
    pub fn applicant_key(&self) -> motcua_store::ApplicantKey {
        motcua_store::ApplicantKey::from_node_secret(&self.key.to_bytes())
    }

    /// The actor of this incarnation: the key, then the incarnation.
    pub fn actor(&self) -> ActorId {
        let mut bytes = self.key.verifying_key().to_bytes().to_vec();
        bytes.extend_from_slice(&self.incarnation);
        ActorId::from(bytes)
    }

    pub fn attest(&self, change_hash: &[u8; 32]) -> Attestation {
        attest(&self.key, change_hash)
    }
}
