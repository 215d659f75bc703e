//! Rate limits of the public citizen tracking lookup (tra cứu hồ sơ), the
//! one route that needs no login: each client address gets
//! [`TRACK_PER_MINUTE`] lookups a minute, and a dossier code that met
//! [`TRACK_FAILURES_MAX`] wrong id-number suffixes in a row is locked for
//! [`TRACK_LOCK_MS`], so the 10,000 possible suffixes cannot be tried.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub const TRACK_PER_MINUTE: u32 = 30;
pub const TRACK_FAILURES_MAX: u32 = 5;
pub const TRACK_LOCK_MS: i64 = 15 * 60 * 1000;
const MINUTE_MS: i64 = 60 * 1000;
/// Entries kept before stale ones are dropped (bounds memory under a scan).
const ENTRIES_MAX: usize = 10_000;

#[derive(Default)]
pub struct TrackLimits {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Per client: start of its current minute and lookups in it.
    clients: HashMap<IpAddr, (i64, u32)>,
    /// Per dossier code: wrong suffixes in a row and the lock's end.
    codes: HashMap<String, (u32, i64)>,
}

/// Why a lookup is not served now, and for how many more milliseconds.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    TooManyRequests { retry_ms: i64 },
    CodeLocked { retry_ms: i64 },
}

impl TrackLimits {
    /// Counts a lookup by `client` of `code`, or says why it must wait.
    pub fn admit(&self, client: IpAddr, code: &str, now: i64) -> Result<(), Refused> {
        let mut i = self.inner.lock().expect("track limits lock");
        if let Some(&(_, until)) = i.codes.get(code)
            && until > now
        {
            return Err(Refused::CodeLocked { retry_ms: until - now });
        }
        if i.clients.len() >= ENTRIES_MAX {
            i.clients.retain(|_, (start, _)| now - *start < MINUTE_MS);
        }
        let entry = i.clients.entry(client).or_insert((now, 0));
        if now - entry.0 >= MINUTE_MS {
            *entry = (now, 0);
        }
        if entry.1 >= TRACK_PER_MINUTE {
            return Err(Refused::TooManyRequests { retry_ms: entry.0 + MINUTE_MS - now });
        }
        entry.1 += 1;
        Ok(())
    }

    /// A lookup of `code` gave a wrong suffix (or named no dossier).
    pub fn failed(&self, code: &str, now: i64) {
        let mut i = self.inner.lock().expect("track limits lock");
        if i.codes.len() >= ENTRIES_MAX {
            i.codes.retain(|_, (_, until)| *until > now);
        }
        let entry = i.codes.entry(code.to_string()).or_insert((0, 0));
        if entry.1 != 0 && entry.1 <= now {
            *entry = (0, 0);
        }
        entry.0 += 1;
        if entry.0 >= TRACK_FAILURES_MAX {
            entry.1 = now + TRACK_LOCK_MS;
        }
    }

    /// A lookup of `code` succeeded: its failures start again from zero.
    pub fn succeeded(&self, code: &str) {
        self.inner.lock().expect("track limits lock").codes.remove(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "000.00.01.H99-251117-0001";

    #[test]
    fn a_client_gets_its_lookups_a_minute_and_then_waits() {
        let l = TrackLimits::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..TRACK_PER_MINUTE {
            l.admit(ip, CODE, 1_000).unwrap();
        }
        assert_eq!(l.admit(ip, CODE, 31_000), Err(Refused::TooManyRequests { retry_ms: 30_000 }));
        l.admit(other, CODE, 31_000).expect("another client is not held back");
        l.admit(ip, CODE, 61_000).expect("a new minute");
    }

    #[test]
    fn wrong_suffixes_lock_the_code_and_a_right_one_resets_the_count() {
        let l = TrackLimits::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..TRACK_FAILURES_MAX - 1 {
            l.failed(CODE, 0);
        }
        l.succeeded(CODE);
        for _ in 0..TRACK_FAILURES_MAX - 1 {
            l.failed(CODE, 0);
        }
        l.admit(ip, CODE, 0).expect("four failures since the last success do not lock");
        l.failed(CODE, 0);
        assert_eq!(l.admit(ip, CODE, 1), Err(Refused::CodeLocked { retry_ms: TRACK_LOCK_MS - 1 }));
        l.admit(ip, "000.00.01.H99-251117-0002", 1).expect("other codes are not locked");
        l.admit(ip, CODE, TRACK_LOCK_MS).expect("the lock ends");
    }
}
