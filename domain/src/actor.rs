//! Which node an Automerge actor writes for. A node's actor is its
//! ed25519 key, followed by an incarnation drawn at each start: the key
//! makes every change attributable (DESIGN §7), the incarnation keeps a
//! node restored from an old copy of its disk from reusing one of its own
//! sequence numbers, which would be a fork.

use automerge::ActorId;

/// Bytes of the incarnation that follows a node key in its actors.
pub const INCARNATION_BYTES: usize = 8;

/// The node key an actor writes for: the actor is the 32-byte key itself,
/// or the key followed by an incarnation of [`INCARNATION_BYTES`].
pub fn node_key_of(actor: &ActorId) -> Option<[u8; 32]> {
    let bytes = actor.to_bytes();
    if bytes.len() == 32 || bytes.len() == 32 + INCARNATION_BYTES { bytes[..32].try_into().ok() } else { None }
}

/// [`node_key_of`] on an actor's hex form: its first 64 digits (or the
/// whole, if it is no actor of a node).
pub fn node_key_hex(actor_hex: &str) -> &str {
    if actor_hex.len() == 2 * (32 + INCARNATION_BYTES) && actor_hex.is_char_boundary(64) {
        &actor_hex[..64]
    } else {
        actor_hex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_is_a_node_key_with_or_without_an_incarnation() {
        let key = [7u8; 32];
        assert_eq!(node_key_of(&ActorId::from(key)), Some(key));
        let mut incarnated = key.to_vec();
        incarnated.extend_from_slice(&[9; INCARNATION_BYTES]);
        let actor = ActorId::from(incarnated);
        assert_eq!(node_key_of(&actor), Some(key));
        assert_eq!(node_key_hex(&actor.to_hex_string()), ActorId::from(key).to_hex_string());
        assert_eq!(node_key_of(&ActorId::from(vec![1u8; 16])), None);
        assert_eq!(node_key_hex("abcd"), "abcd");
    }
}
