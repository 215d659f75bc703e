//! Rate limits of what can be guessed: the public citizen tracking lookup
//! (tra cứu hồ sơ), the one route that needs no login, keyed by dossier
//! code ([`TRACK`]); and officers' logins, keyed by username ([`LOGIN`]).
//! Tracking's rules, below, are the pattern; a login's wrong password
//! counts as a wrong suffix ([`Guess::Wrong`]), an unknown username as
//! an unknown code ([`Guess::Unknown`]).
//!
//! - Each client gets [`TRACK_PER_MINUTE`] lookups a minute. A client is an
//!   IPv4 address or an IPv6 /64 (one host can hold a whole /64).
//! - A client that gave [`TRACK_FAILURES_MAX`] wrong ID-number suffixes for
//!   one dossier code is locked out of that code for [`TRACK_LOCK_MS`].
//! - A code that met [`TRACK_CODE_FAILURES_MAX`] wrong suffixes from all
//!   clients together is locked for everyone for the same time, so many
//!   addresses together still get a few dozen guesses of 10,000 per window.
//!
//! A lookup reserves its attempt before it runs ([`GuessLimits::admit`]),
//! so parallel requests cannot overtake the count. Counters live until
//! their window ends; when the tables are full of live counters, new
//! clients and codes are refused rather than old counters dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub const TRACK_PER_MINUTE: u32 = 30;
pub const TRACK_FAILURES_MAX: u32 = 5;
pub const TRACK_CODE_FAILURES_MAX: u32 = 50;
pub const TRACK_LOCK_MS: i64 = 15 * 60 * 1000;
const MINUTE_MS: i64 = 60 * 1000;
/// Live counters kept per table (bounds memory under a scan).
pub const ENTRIES_MAX: usize = 10_000;

/// Whom a limit applies to: an IPv4 address, or the /64 of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(u128);

impl Client {
    /// A known device (an officer's, vouched for by a token the node
    /// issued): its guesses are counted together from whatever address it
    /// comes. The id is random-looking (part of a MAC), so it stands apart
    /// from any address's.
    pub fn device(id: [u8; 16]) -> Client {
        Client(u128::from_be_bytes(id))
    }

    pub fn of(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(v4) => Client(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(u32::from(v4) as u128),
                None => Client((u128::from(v6) >> 64) << 64 | 1),
            },
        }
    }
}

/// What a table of limits allows.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Attempts a minute per client.
    pub per_minute: u32,
    /// Failures one client may make on one target before it is locked out
    /// of it.
    pub failures_max: u32,
    /// Failures from all clients together before a target is locked for
    /// everyone.
    pub target_failures_max: u32,
    /// How long failures are counted, and a lock lasts.
    pub lock_ms: i64,
}

/// Tracking lookups, by dossier code.
pub const TRACK: Rules = Rules {
    per_minute: TRACK_PER_MINUTE,
    failures_max: TRACK_FAILURES_MAX,
    target_failures_max: TRACK_CODE_FAILURES_MAX,
    lock_ms: TRACK_LOCK_MS,
};

/// Logins, by username: five wrong passwords lock one address out of an
/// account, fifty from all addresses lock the account for everyone; so
/// one address cannot lock an officer out, nor try many passwords. A
/// device the officer logged in from before ([`GuessLimits::admit_known`])
/// is not held back by the lock for everyone, so many addresses together
/// cannot lock the officer out of their own desk either.
pub const LOGIN: Rules = Rules { per_minute: 30, failures_max: 5, target_failures_max: 50, lock_ms: 15 * 60 * 1000 };

pub struct GuessLimits {
    rules: Rules,
    inner: Mutex<Inner>,
}

impl Default for GuessLimits {
    fn default() -> Self {
        GuessLimits::new(TRACK)
    }
}

#[derive(Default)]
struct Inner {
    /// Per client: start of its current minute and lookups in it.
    clients: HashMap<Client, (i64, u32)>,
    /// Per (client, code) and per code: the counter of wrong suffixes.
    guesses: HashMap<(Client, String), Counter>,
    codes: HashMap<String, Counter>,
}

/// Wrong suffixes (and lookups still running) within a window.
#[derive(Default, Clone, Copy)]
struct Counter {
    start: i64,
    failures: u32,
    in_flight: u32,
    locked_until: i64,
}

impl Counter {
    fn live(&self, now: i64, lock_ms: i64) -> bool {
        self.in_flight > 0 || self.locked_until > now || now - self.start < lock_ms
    }
    fn refresh(&mut self, now: i64, lock_ms: i64) {
        if !self.live(now, lock_ms) {
            *self = Counter { start: now, ..Counter::default() };
        }
    }
}

/// Why an attempt is not served now, and for how many more milliseconds.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The client's minute is used up.
    TooManyRequests { retry_ms: i64 },
    /// The target (a code, a username) is locked, for this client or all.
    Locked { retry_ms: i64 },
    /// Too many clients or codes are being counted at once.
    Busy,
}

/// A reserved attempt; hand it back with [`GuessLimits::finish`]. One
/// dropped unfinished (the client went away mid-lookup, and the server
/// dropped the request) is finished as [`Guess::Failed`], so that no
/// attempt stays in flight for ever and holds its code locked.
pub struct Attempt<'a> {
    limits: &'a GuessLimits,
    /// Taken once the attempt is finished.
    key: Option<(Client, String)>,
    /// Whether it counts towards the target's lock for everyone.
    on_target: bool,
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt").field("key", &self.key).finish()
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A failed attempt counts no failure, so the time is not read.
            self.limits.end(key, self.on_target, Guess::Failed, 0);
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// The guess was right (code and suffix, username and password).
    Found,
    /// A target that exists, guessed wrong (a wrong suffix, a wrong
    /// password).
    Wrong,
    /// No such target (code, username): counts against the client only.
    Unknown,
    /// The attempt failed for another reason (storage error).
    Failed,
}

/// Makes room for one more entry in `map`, dropping counters whose window
/// ended; `false` when every entry is still live.
fn room<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Counter>, now: i64, lock_ms: i64) -> bool {
    if map.len() >= ENTRIES_MAX {
        map.retain(|_, c| c.live(now, lock_ms));
    }
    map.len() < ENTRIES_MAX
}

impl GuessLimits {
    pub fn new(rules: Rules) -> GuessLimits {
        GuessLimits { rules, inner: Mutex::default() }
    }

    /// Counts a lookup by `ip` of `code` and reserves its attempt, or says
    /// why it must wait.
    pub fn admit(&self, ip: IpAddr, code: &str, now: i64) -> Result<Attempt<'_>, Refused> {
        self.admit_as(Client::of(ip), Client::of(ip), code, now, true)
    }

    /// [`GuessLimits::admit`] for a device the target itself vouched for
    /// before (an officer's known device): the address's minute holds, the
    /// device's failures on the target are counted and locked together
    /// whatever address it comes from, and the target's lock for everyone
    /// neither stops nor counts it.
    pub fn admit_known(&self, ip: IpAddr, device: Client, code: &str, now: i64) -> Result<Attempt<'_>, Refused> {
        self.admit_as(Client::of(ip), device, code, now, false)
    }

    fn admit_as(
        &self,
        address: Client,
        client: Client,
        code: &str,
        now: i64,
        on_target: bool,
    ) -> Result<Attempt<'_>, Refused> {
        let mut guard = self.inner.lock().expect("track limits lock");
        let i = &mut *guard;
        let key = (client, code.to_string());
        let r = self.rules;
        for counter in [i.codes.get_mut(code), i.guesses.get_mut(&key)].into_iter().flatten() {
            counter.refresh(now, r.lock_ms);
        }
        let code_counter = i.codes.get(code).copied().filter(|_| on_target).unwrap_or_default();
        let own = i.guesses.get(&key).copied().unwrap_or_default();
        for (c, max) in [(code_counter, r.target_failures_max), (own, r.failures_max)] {
            if c.locked_until > now {
                return Err(Refused::Locked { retry_ms: c.locked_until - now });
            }
            if c.failures + c.in_flight >= max {
                // Attempts still running would reach the limit.
                return Err(Refused::Locked { retry_ms: (c.start + r.lock_ms - now).max(1_000) });
            }
        }
        if !i.clients.contains_key(&address) && i.clients.len() >= ENTRIES_MAX {
            i.clients.retain(|_, (start, _)| now - *start < MINUTE_MS);
            if i.clients.len() >= ENTRIES_MAX {
                return Err(Refused::Busy);
            }
        }
        let minute = i.clients.entry(address).or_insert((now, 0));
        if now - minute.0 >= MINUTE_MS {
            *minute = (now, 0);
        }
        if minute.1 >= r.per_minute {
            return Err(Refused::TooManyRequests { retry_ms: minute.0 + MINUTE_MS - now });
        }
        if (on_target && !i.codes.contains_key(code) && !room(&mut i.codes, now, r.lock_ms))
            || (!i.guesses.contains_key(&key) && !room(&mut i.guesses, now, r.lock_ms))
        {
            return Err(Refused::Busy);
        }
        minute.1 += 1;
        if on_target {
            i.codes.entry(code.to_string()).or_insert(Counter { start: now, ..Counter::default() }).in_flight += 1;
        }
        i.guesses.entry(key).or_insert(Counter { start: now, ..Counter::default() }).in_flight += 1;
        Ok(Attempt { limits: self, key: Some((client, code.to_string())), on_target })
    }

    /// Records how a reserved lookup ended.
    pub fn finish(&self, mut attempt: Attempt<'_>, outcome: Guess, now: i64) {
        if let Some(key) = attempt.key.take() {
            self.end(key, attempt.on_target, outcome, now);
        }
    }

    fn end(&self, key: (Client, String), on_target: bool, outcome: Guess, now: i64) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let i = &mut *guard;
        let r = self.rules;
        let lock = |c: &mut Counter, max: u32| {
            c.in_flight = c.in_flight.saturating_sub(1);
            if outcome == Guess::Wrong {
                c.failures += 1;
                if c.failures >= max {
                    c.locked_until = now + r.lock_ms;
                }
            }
        };
        if let Some(c) = i.guesses.get_mut(&key) {
            lock(c, r.failures_max);
        }
        if let Some(c) = i.codes.get_mut(&key.1).filter(|_| on_target) {
            lock(c, r.target_failures_max);
        }
        match outcome {
            // The right suffix: this client's guesses start again.
            Guess::Found => {
                i.guesses.remove(&key);
            }
            // A code nobody holds keeps no counter of its own.
            Guess::Unknown => {
                if i.guesses.get(&key).is_some_and(|c| c.failures + c.in_flight == 0) {
                    i.guesses.remove(&key);
                }
                if i.codes.get(&key.1).is_some_and(|c| c.failures + c.in_flight == 0) {
                    i.codes.remove(&key.1);
                }
            }
            Guess::Wrong | Guess::Failed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "000.00.01.H99-251117-0001";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn wrong(l: &GuessLimits, from: &str, code: &str, now: i64) {
        let a = l.admit(ip(from), code, now).unwrap();
        l.finish(a, Guess::Wrong, now);
    }

    #[test]
    fn a_client_gets_its_lookups_a_minute_and_then_waits() {
        let l = GuessLimits::default();
        for n in 0..TRACK_PER_MINUTE {
            let a = l.admit(ip("192.0.2.1"), &format!("000.00.01.H99-251117-{n:04}"), 1_000).unwrap();
            l.finish(a, Guess::Found, 1_000);
        }
        assert_eq!(l.admit(ip("192.0.2.1"), CODE, 31_000).unwrap_err(), Refused::TooManyRequests { retry_ms: 30_000 });
        l.admit(ip("192.0.2.2"), CODE, 31_000).expect("another client is not held back");
        l.admit(ip("192.0.2.1"), CODE, 61_000).expect("a new minute");
    }

    #[test]
    fn an_ipv6_host_is_one_client_across_its_64() {
        assert_eq!(Client::of(ip("2001:db8:1:2::1")), Client::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(Client::of(ip("2001:db8:1:2::1")), Client::of(ip("2001:db8:1:3::1")));
        assert_eq!(Client::of(ip("::ffff:192.0.2.7")), Client::of(ip("192.0.2.7")));
    }

    #[test]
    fn wrong_suffixes_lock_the_code_for_that_client_and_a_right_one_resets_it() {
        let l = GuessLimits::default();
        for _ in 0..TRACK_FAILURES_MAX - 1 {
            wrong(&l, "192.0.2.1", CODE, 0);
        }
        let a = l.admit(ip("192.0.2.1"), CODE, 0).unwrap();
        l.finish(a, Guess::Found, 0);
        for _ in 0..TRACK_FAILURES_MAX {
            wrong(&l, "192.0.2.1", CODE, 0);
        }
        assert_eq!(l.admit(ip("192.0.2.1"), CODE, 1).unwrap_err(), Refused::Locked { retry_ms: TRACK_LOCK_MS - 1 });
        l.admit(ip("192.0.2.2"), CODE, 1).expect("the citizen at another address still looks it up");
        l.admit(ip("192.0.2.1"), "000.00.01.H99-251117-0002", 1).expect("other codes are not locked");
        l.admit(ip("192.0.2.1"), CODE, TRACK_LOCK_MS).expect("the lock ends");
    }

    #[test]
    fn many_clients_together_lock_a_code_for_everyone() {
        let l = GuessLimits::default();
        for n in 0..TRACK_CODE_FAILURES_MAX {
            wrong(&l, &format!("198.51.100.{n}"), CODE, 0);
        }
        assert!(matches!(l.admit(ip("203.0.113.1"), CODE, 1), Err(Refused::Locked { .. })));
    }

    #[test]
    fn parallel_lookups_cannot_overtake_the_count() {
        let l = GuessLimits::default();
        let running: Vec<Attempt> =
            (0..TRACK_FAILURES_MAX).map(|_| l.admit(ip("192.0.2.1"), CODE, 0).unwrap()).collect();
        assert!(
            matches!(l.admit(ip("192.0.2.1"), CODE, 0), Err(Refused::Locked { .. })),
            "five lookups still running use up the attempts"
        );
        for a in running {
            l.finish(a, Guess::Wrong, 0);
        }
        assert!(matches!(l.admit(ip("192.0.2.1"), CODE, 1), Err(Refused::Locked { .. })));
    }

    #[test]
    fn a_full_table_keeps_live_counters_and_refuses_new_codes() {
        let l = GuessLimits::default();
        for _ in 0..TRACK_FAILURES_MAX - 1 {
            wrong(&l, "192.0.2.1", CODE, 0);
        }
        // Fill the tables with live counters of other codes, from many clients.
        for n in 1..ENTRIES_MAX {
            wrong(
                &l,
                &format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255),
                &format!("000.00.01.H99-251118-{n:05}"),
                0,
            );
        }
        assert_eq!(l.admit(ip("192.0.2.9"), "000.00.01.H99-251119-0001", 1).unwrap_err(), Refused::Busy);
        // The target's counter survived: one more wrong suffix locks it.
        wrong(&l, "192.0.2.1", CODE, 2);
        assert!(matches!(l.admit(ip("192.0.2.1"), CODE, 3), Err(Refused::Locked { .. })));
        // Once the windows end, room is made again.
        l.admit(ip("192.0.2.9"), "000.00.01.H99-251119-0001", TRACK_LOCK_MS + 3).expect("old counters dropped");
    }

    #[test]
    fn one_address_cannot_lock_an_officer_out_of_logging_in() {
        let l = GuessLimits::new(LOGIN);
        for _ in 0..LOGIN.failures_max {
            let a = l.admit(ip("192.0.2.66"), "tiepnhan", 0).unwrap();
            l.finish(a, Guess::Wrong, 0);
        }
        assert!(matches!(l.admit(ip("192.0.2.66"), "tiepnhan", 1), Err(Refused::Locked { .. })));
        // The officer at her own desk still logs in.
        let a = l.admit(ip("192.0.2.10"), "tiepnhan", 1).expect("another address is not locked");
        l.finish(a, Guess::Found, 1);
        // Many addresses together (with the first one's five) lock the
        // account for everyone.
        for n in 0..LOGIN.target_failures_max - LOGIN.failures_max {
            let a = l.admit(ip(&format!("198.51.100.{n}")), "tiepnhan", 2).unwrap();
            l.finish(a, Guess::Wrong, 2);
        }
        assert!(matches!(l.admit(ip("192.0.2.10"), "tiepnhan", 3), Err(Refused::Locked { .. })));
        // Her known device is not held back by the lock for everyone, and
        // its own wrong password counts against itself only.
        let desk = Client::device([7; 16]);
        let a = l.admit_known(ip("192.0.2.10"), desk, "tiepnhan", 3).expect("a known device logs in");
        l.finish(a, Guess::Wrong, 3);
        assert_eq!(l.inner.lock().unwrap().codes["tiepnhan"].failures, LOGIN.target_failures_max);
        let a = l.admit_known(ip("192.0.2.10"), desk, "tiepnhan", 4).expect("still");
        l.finish(a, Guess::Found, 4);
        // A device's wrong passwords are counted together from every
        // address: a stolen token gives five guesses, not five per address.
        let stolen = Client::device([9; 16]);
        for n in 0..LOGIN.failures_max {
            let a = l.admit_known(ip(&format!("203.0.113.{n}")), stolen, "tiepnhan", 5).unwrap();
            l.finish(a, Guess::Wrong, 5);
        }
        assert!(matches!(l.admit_known(ip("203.0.113.99"), stolen, "tiepnhan", 6), Err(Refused::Locked { .. })));
        assert!(l.admit(ip("192.0.2.10"), "tiepnhan", 3 + LOGIN.lock_ms).is_ok(), "the lock ends");
    }

    #[test]
    fn lookups_dropped_unfinished_hold_nothing_in_flight() {
        let l = GuessLimits::default();
        // More aborted lookups than wrong suffixes lock a code: had they
        // stayed in flight, the code would be locked for this client.
        for _ in 0..2 * TRACK_FAILURES_MAX {
            drop(l.admit(ip("192.0.2.1"), CODE, 0).expect("admitted"));
        }
        let a = l.admit(ip("192.0.2.1"), CODE, 1).expect("not locked by aborted lookups");
        l.finish(a, Guess::Found, 1);
        let i = l.inner.lock().unwrap();
        assert!(i.codes.values().chain(i.guesses.values()).all(|c| c.in_flight == 0 && c.failures == 0));
    }

    #[test]
    fn unknown_codes_leave_no_counter_behind() {
        let l = GuessLimits::default();
        for n in 0..20 {
            let a = l.admit(ip("192.0.2.1"), &format!("000.00.01.H99-251117-{n:04}"), 0).unwrap();
            l.finish(a, Guess::Unknown, 0);
        }
        let i = l.inner.lock().unwrap();
        assert!(i.codes.is_empty() && i.guesses.is_empty(), "only the client's minute counts them");
    }
}
