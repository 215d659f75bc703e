//! motcua's sync core.
//!
//! Owns what crosses the wire between nodes: attestations (a node's ed25519
//! signature over an Automerge change hash), node certificates signed by the
//! province root, the admission of incoming dossier documents
//! ([`verify`]), the export file ([`export`]), range-based reconciliation of
//! which documents differ ([`reconcile`]), and — as the sync network is
//! built — versioned wire messages, the handshake and per-document sync
//! sessions.
//!
//! It never touches a socket, a clock or a file: the node's driver feeds it
//! bytes and instants and carries out what it asks for.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use motcua_sync::attest::{attest, verify};
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let change_hash = [1u8; 32];
//! let a = attest(&key, &change_hash);
//! assert!(verify(&a, &change_hash).is_ok());
//! assert!(verify(&a, &[2u8; 32]).is_err());
//! ```

pub mod attest;
pub mod cert;
pub mod export;
#[doc(hidden)]
pub mod fixtures;
pub mod fork;
pub mod guard;
pub mod memory;
pub mod recent;
pub mod reconcile;
pub mod redial;
pub mod routing;
pub mod session;
pub mod verify;
pub mod wire;
