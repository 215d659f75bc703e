//! When a node dials a peer again, and which of two connections between
//! the same pair survives: the connection policy both the node's driver
//! and the simulator follow.
//!
//! Sans-IO like the rest of the core: the caller passes the time and a
//! random number, and sleeps or schedules the dial itself.
//!
//! ```
//! use motcua_sync::redial::{BACKOFF_FIRST_MS, Redial};
//! let mut r = Redial::new();
//! // A failed dial waits at most twice the first backoff, at least half that.
//! let next = r.failed(1_000, 12_345);
//! assert!((1_000 + BACKOFF_FIRST_MS..=1_000 + 2 * BACKOFF_FIRST_MS).contains(&next));
//! r.connected(next);
//! ```

/// The wait before dialing again after a connection that lasted; failed
/// dials double it.
pub const BACKOFF_FIRST_MS: i64 = 500;
/// The longest wait between two dials: a peer back after an outage is
/// found again within about this long.
pub const BACKOFF_MAX_MS: i64 = 30_000;
/// A connection that lasted this long proved the peer takes this node: its
/// end starts the backoff afresh. One that ended sooner (a peer that
/// refuses this node at the handshake, which the hello timeout of 10 s
/// bounds, or a link that drops at once) counts as a failed dial, so that
/// such a peer is not dialed every half second.
pub const LASTED_MS: i64 = 10_000;

/// Doublings after which the wait is at [`BACKOFF_MAX_MS`] anyway; keeps
/// the shift in range however long a peer stays away.
const DOUBLINGS_MAX: u32 = 16;

/// The redial state of one configured peer.
///
/// Waits are capped exponential backoff with "equal jitter" (Marc Brooker,
/// "Exponential Backoff and Jitter", AWS Architecture Blog, 2015): the wait
/// is drawn uniformly from the upper half of the current backoff. Jitter
/// spreads out the communes that all lost the province in one outage, so
/// that they do not redial it in step; equal rather than full jitter keeps
/// at least half the backoff, so that no draw redials a peer at once and a
/// peer that refuses this node is dialed at most once per
/// `BACKOFF_FIRST_MS / 2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redial {
    /// Failed dials (and connections that did not last) since the last
    /// connection that did.
    failures: u32,
    /// When the current connection was made, if one is.
    connected_at_ms: Option<i64>,
}

impl Redial {
    pub fn new() -> Redial {
        Redial::default()
    }

    /// A dial failed at `now_ms`; returns when to dial again. `random` is
    /// any uniformly drawn number.
    pub fn failed(&mut self, now_ms: i64, random: u64) -> i64 {
        self.connected_at_ms = None;
        self.failures = self.failures.saturating_add(1);
        now_ms.saturating_add(self.wait_ms(random))
    }

    /// A dial succeeded at `now_ms`.
    pub fn connected(&mut self, now_ms: i64) {
        self.connected_at_ms = Some(now_ms);
    }

    /// The connection ended at `now_ms`; returns when to dial again.
    pub fn disconnected(&mut self, now_ms: i64, random: u64) -> i64 {
        match self.connected_at_ms.take() {
            Some(at) if now_ms.saturating_sub(at) >= LASTED_MS => self.failures = 0,
            _ => self.failures = self.failures.saturating_add(1),
        }
        now_ms.saturating_add(self.wait_ms(random))
    }

    /// Forgets the failures: the network is known to be back (the
    /// simulator's heal), or the peer asked to be dialed.
    pub fn reset(&mut self) {
        *self = Redial::default();
    }

    /// The current backoff: waits are drawn from its upper half.
    pub fn backoff_ms(&self) -> i64 {
        (BACKOFF_FIRST_MS << self.failures.min(DOUBLINGS_MAX)).min(BACKOFF_MAX_MS)
    }

    fn wait_ms(&self, random: u64) -> i64 {
        let backoff = self.backoff_ms();
        let half = backoff / 2;
        backoff - half + (random % (half as u64 + 1)) as i64
    }
}

/// Which of two connections between the same two nodes survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Survivor {
    /// The connection already registered.
    Held,
    /// The one that just came up.
    New,
}

/// Settles two connections between this node (`me`) and `peer`, given
/// which side dialed each. When each side dialed the other, the one
/// dialed by the smaller key survives, so that both ends keep the same
/// connection whatever order they saw them in. When one side dialed both,
/// the new one survives: that side dialed again because the held one died
/// without this end noticing yet.
pub fn duplicate_survivor(me: &[u8; 32], peer: &[u8; 32], held_dialed_by_me: bool, new_dialed_by_me: bool) -> Survivor {
    let dialer = |by_me: bool| if by_me { me } else { peer };
    if held_dialed_by_me == new_dialed_by_me || dialer(new_dialed_by_me) < dialer(held_dialed_by_me) {
        Survivor::New
    } else {
        Survivor::Held
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The backoff a wait was drawn from, checked against its bounds.
    fn wait_within(r: &Redial, now: i64, next: i64) -> i64 {
        let b = r.backoff_ms();
        assert!((now + b - b / 2..=now + b).contains(&next), "wait {} outside [{}, {b}]", next - now, b - b / 2);
        b
    }

    #[test]
    fn failed_dials_double_the_backoff_up_to_the_cap() {
        let mut r = Redial::new();
        let mut backoffs = Vec::new();
        for i in 0..12 {
            let now = i * 100_000;
            let next = r.failed(now, i as u64 * 7919);
            backoffs.push(wait_within(&r, now, next));
        }
        assert_eq!(backoffs[..7], [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        // However long a peer stays away, the shift stays in range.
        for _ in 0..1_000 {
            r.failed(0, u64::MAX);
        }
        assert_eq!(r.backoff_ms(), BACKOFF_MAX_MS);
    }

    #[test]
    fn a_connection_that_lasted_resets_the_backoff_and_a_short_one_counts_as_a_failure() {
        let mut r = Redial::new();
        for _ in 0..5 {
            r.failed(0, 1);
        }
        assert_eq!(r.backoff_ms(), 16_000);
        // Refused at the handshake: backs off further.
        r.connected(1_000);
        let next = r.disconnected(1_000 + LASTED_MS - 1, 3);
        assert_eq!(wait_within(&r, 1_000 + LASTED_MS - 1, next), BACKOFF_MAX_MS);
        // A connection that lasted: the next dial comes soon.
        r.connected(100_000);
        let next = r.disconnected(100_000 + LASTED_MS, 3);
        assert_eq!(wait_within(&r, 100_000 + LASTED_MS, next), BACKOFF_FIRST_MS);
        // An end with no connection made counts as a failure too.
        let next = r.disconnected(200_000, 3);
        assert_eq!(wait_within(&r, 200_000, next), 2 * BACKOFF_FIRST_MS);
        r.reset();
        assert_eq!(r, Redial::new());
        assert_eq!(r.backoff_ms(), BACKOFF_FIRST_MS);
    }

    #[test]
    fn jitter_covers_the_upper_half_of_the_backoff() {
        // After one failure the backoff is 2,000 ms; the extremes of the
        // draw reach both ends of its upper half.
        let mut r = Redial::new();
        r.failed(0, 0);
        assert_eq!(r.clone().disconnected(0, 0), 1_000);
        assert_eq!(r.clone().disconnected(0, 1_000), 2_000);
        assert_eq!(r.clone().disconnected(0, 1_001), 1_000);
    }

    proptest! {
        #[test]
        fn every_wait_is_within_the_upper_half_of_a_capped_backoff(
            steps in proptest::collection::vec((0u8..3, any::<u64>(), 0i64..60_000), 1..60),
        ) {
            let mut r = Redial::new();
            let mut now = 0i64;
            for (what, random, pause) in steps {
                now += pause;
                let next = match what {
                    0 => r.failed(now, random),
                    1 => { r.connected(now); continue; }
                    _ => r.disconnected(now, random),
                };
                let b = r.backoff_ms();
                prop_assert!((BACKOFF_FIRST_MS..=BACKOFF_MAX_MS).contains(&b));
                prop_assert!(next - now >= b - b / 2 && next - now <= b);
            }
        }
    }

    #[test]
    fn both_ends_of_a_duplicate_keep_the_same_connection() {
        let small = [1u8; 32];
        let large = [2u8; 32];
        // Connection x dialed by `small`, y by `large`. Each end sees them
        // in either order; which key dialed the survivor must agree.
        for (a, b) in [(small, large), (large, small)] {
            for x_first in [true, false] {
                let survivor_dialer = |me: [u8; 32], peer: [u8; 32]| {
                    // Whether `me` dialed x and y.
                    let x_by_me = me == small;
                    let y_by_me = !x_by_me;
                    let (held, new) = if x_first { (x_by_me, y_by_me) } else { (y_by_me, x_by_me) };
                    let by_me = match duplicate_survivor(&me, &peer, held, new) {
                        Survivor::Held => held,
                        Survivor::New => new,
                    };
                    if by_me { me } else { peer }
                };
                assert_eq!(survivor_dialer(a, b), small);
                assert_eq!(survivor_dialer(b, a), small);
            }
        }
    }

    #[test]
    fn a_side_that_dialed_twice_keeps_its_newer_connection() {
        let (me, peer) = ([1u8; 32], [2u8; 32]);
        assert_eq!(duplicate_survivor(&me, &peer, true, true), Survivor::New);
        assert_eq!(duplicate_survivor(&me, &peer, false, false), Survivor::New);
        assert_eq!(duplicate_survivor(&peer, &me, true, true), Survivor::New);
        assert_eq!(duplicate_survivor(&peer, &me, false, false), Survivor::New);
    }
}
