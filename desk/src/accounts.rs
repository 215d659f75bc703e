//! Officer accounts (tài khoản cán bộ), password hashing with argon2,
//! sessions with an idle timeout, CSRF tokens for cookie sessions, and
//! login throttling.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use motcua_domain::workflow::Role;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// A session unused for this long must log in again.
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;
/// A session ends this long after login, however busy: a shift, not a week.
pub const SESSION_ABSOLUTE_MS: i64 = 12 * 3600 * 1000;
/// Bound on live sessions of a node.
pub const SESSIONS_MAX: usize = 10_000;
pub use crate::passwords::PASSWORD_LEN_MIN;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub full_name: String,
    pub roles: Vec<Role>,
    pub password_hash: String,
    pub created_at: i64,
}

impl Account {
    /// An account as the store keeps it (postcard).
    pub fn decode(bytes: &[u8]) -> Result<Account, motcua_store::StoreError> {
        postcard::from_bytes(bytes).map_err(|e| motcua_store::StoreError::Corrupt(format!("account: {e}")))
    }
}

impl crate::desk::Desk {
    /// The stored account of `username`, if any.
    pub fn account(&self, username: &str) -> Result<Option<Account>, motcua_store::StoreError> {
        self.store().account(username)?.map(|b| Account::decode(&b)).transpose()
    }
}

pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// The cookie that marks a device an officer logged in from before.
pub const DEVICE_COOKIE: &str = "motcua_device";
/// The known-device cookie under TLS: `__Secure-` makes browsers keep it
/// only if set `Secure` over HTTPS. (`__Host-` would need `Path=/`, and the
/// cookie goes to the login route only.)
pub const DEVICE_COOKIE_TLS: &str = "__Secure-motcua_device";
/// How long a device stays known after a login from it.
pub const DEVICE_TTL_MS: i64 = 180 * 24 * 3600 * 1000;

/// The MAC covers the account's password hash too, so a new password
/// forgets every device that knew the old one.
fn device_mac(node_secret: &[u8; 32], account: &Account, issued: i64) -> blake3::Hash {
    let key = blake3::derive_key("motcua 2026 known device token v2", node_secret);
    let mut h = blake3::Hasher::new_keyed(&key);
    h.update(account.username.as_bytes());
    h.update(b"\0");
    h.update(issued.to_string().as_bytes());
    h.update(b"\0");
    h.update(account.password_hash.as_bytes());
    h.finalize()
}

/// A token naming the device `account`'s officer just logged in from,
/// vouched for by this node (a MAC under a key derived from the node's
/// secret), so it needs no storage and holds across restarts:
/// `hex(username).issued.mac`.
pub fn device_token(node_secret: &[u8; 32], account: &Account, now: i64) -> String {
    format!("{}.{now}.{}", hex::encode(&account.username), device_mac(node_secret, account, now).to_hex())
}

/// The device `token` names, when this node issued it to `account`'s
/// officer within [`DEVICE_TTL_MS`] and under the password in force: an id
/// drawn from its MAC, under which the device's login failures are
/// counted. The MAC is compared in constant time.
pub fn device_vouches(node_secret: &[u8; 32], token: &str, account: &Account, now: i64) -> Option<[u8; 16]> {
    let username = account.username.as_str();
    let mut parts = token.split('.');
    let (Some(user_hex), Some(issued), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (Ok(user), Ok(issued), Ok(mac)) = (hex::decode(user_hex), issued.parse::<i64>(), blake3::Hash::from_hex(mac))
    else {
        return None;
    };
    let fresh = now.checked_sub(issued).is_some_and(|age| (0..DEVICE_TTL_MS).contains(&age));
    (user == username.as_bytes() && fresh && device_mac(node_secret, account, issued) == mac)
        .then(|| mac.as_bytes()[..16].try_into().expect("16 of 32 bytes"))
}

/// A random token of 32 bytes, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// A readable generated password for the first admin, one the password
/// policy takes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    loop {
        let p: String = (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        if crate::passwords::check_new_password(&p, "admin").is_ok() {
            return p;
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoginSession {
    pub username: String,
    pub roles: Vec<Role>,
    pub csrf: String,
    pub created: i64,
    pub last_seen: i64,
}

impl LoginSession {
    fn is_live(&self, now: i64) -> bool {
        now - self.last_seen < SESSION_IDLE_MS && now - self.created < SESSION_ABSOLUTE_MS
    }
}

/// Live sessions; they live in memory, so a restart logs every officer
/// out. Failed logins are counted by `limits::LOGIN`.
#[derive(Default)]
pub struct LoginSessions {
    sessions: Mutex<HashMap<String, LoginSession>>,
}

impl LoginSessions {
    pub fn create(&self, account: &Account, now: i64) -> (String, LoginSession) {
        let token = random_token();
        let session = LoginSession {
            username: account.username.clone(),
            roles: account.roles.clone(),
            csrf: random_token(),
            created: now,
            last_seen: now,
        };
        let mut s = self.sessions.lock().expect("session lock");
        s.retain(|_, v| v.is_live(now));
        if s.len() >= SESSIONS_MAX
            && let Some(oldest) = s.iter().min_by_key(|(_, v)| v.last_seen).map(|(k, _)| k.clone())
        {
            s.remove(&oldest);
        }
        s.insert(token.clone(), session.clone());
        (token, session)
    }

    /// The session of a token, refreshed; `None` if unknown or idle too long.
    pub fn touch(&self, token: &str, now: i64) -> Option<LoginSession> {
        self.session(token, now, true)
    }

    /// The session of a token without counting the request as the
    /// officer's activity: the page's background polls (sync status every
    /// few seconds) would otherwise keep an unattended desk logged in.
    pub fn peek(&self, token: &str, now: i64) -> Option<LoginSession> {
        self.session(token, now, false)
    }

    fn session(&self, token: &str, now: i64, refresh: bool) -> Option<LoginSession> {
        let mut s = self.sessions.lock().expect("session lock");
        let live = s.get(token).is_some_and(|v| v.is_live(now));
        if !live {
            s.remove(token);
            return None;
        }
        let v = s.get_mut(token)?;
        if refresh {
            v.last_seen = now;
        }
        Some(v.clone())
    }

    /// Ends every session of an officer (account disabled).
    pub fn end_user(&self, username: &str) -> usize {
        let mut s = self.sessions.lock().expect("session lock");
        let before = s.len();
        s.retain(|_, v| v.username != username);
        before - s.len()
    }

    pub fn remove(&self, token: &str) {
        self.sessions.lock().expect("session lock").remove(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_token_vouches_for_its_officer_on_this_node_for_a_while_only() {
        let (node, other) = ([7u8; 32], [8u8; 32]);
        let account = |username: &str, hash: &str| Account {
            username: username.into(),
            full_name: String::new(),
            roles: vec![],
            password_hash: hash.into(),
            created_at: 0,
        };
        let tiepnhan = account("tiepnhan", "$argon2id$old");
        let t = device_token(&node, &tiepnhan, 1_000);
        let id = device_vouches(&node, &t, &tiepnhan, 2_000).expect("vouched for");
        let again = device_vouches(&node, &device_token(&node, &tiepnhan, 1_500), &tiepnhan, 2_000);
        assert_eq!(again.map(|i| i != id), Some(true), "each login's token is another device id");
        assert!(device_vouches(&node, &t, &account("chuyenvien", "$argon2id$old"), 2_000).is_none(), "another officer");
        assert!(device_vouches(&node, &t, &account("tiepnhan", "$argon2id$new"), 2_000).is_none(), "a new password");
        assert!(device_vouches(&other, &t, &tiepnhan, 2_000).is_none(), "another node's");
        assert!(device_vouches(&node, &t, &tiepnhan, 1_000 + DEVICE_TTL_MS).is_none(), "expired");
        assert!(device_vouches(&node, &t, &tiepnhan, 999).is_none(), "issued in the future");
        let later = t.replacen(".1000.", ".1001.", 1);
        assert!(device_vouches(&node, &later, &tiepnhan, 2_000).is_none(), "a moved issue time breaks the MAC");
        let oldest = format!("{}.{}.{}", hex::encode("tiepnhan"), i64::MIN, "0".repeat(64));
        for junk in ["", "a.b", "74.1000.zz", &format!("{t}.x"), &oldest] {
            assert!(device_vouches(&node, junk, &tiepnhan, 2_000).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let h = hash_password("mat-khau-dung");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("mat-khau-dung", &h));
        assert!(!verify_password("mat-khau-sai", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn idle_sessions_expire() {
        let s = LoginSessions::default();
        let account = Account {
            username: "u".into(),
            full_name: String::new(),
            roles: vec![Role::Receptionist],
            password_hash: String::new(),
            created_at: 0,
        };
        let (token, _) = s.create(&account, 0);
        assert!(s.touch(&token, SESSION_IDLE_MS - 1).is_some());
        assert!(s.touch(&token, 2 * SESSION_IDLE_MS).is_none());
        assert!(s.touch("nope", 0).is_none());
        // Kept busy, a session still ends after a shift.
        let (token, _) = s.create(&account, 0);
        let mut t = 0;
        while t + SESSION_IDLE_MS / 2 < SESSION_ABSOLUTE_MS {
            t += SESSION_IDLE_MS / 2;
            assert!(s.touch(&token, t).is_some(), "active at {t}");
        }
        assert!(s.touch(&token, SESSION_ABSOLUTE_MS).is_none());
        // Background polls see a live session but do not keep it live.
        let (token, _) = s.create(&account, 0);
        let mut t = 0;
        while t + 3_000 < SESSION_IDLE_MS {
            t += 3_000;
            assert!(s.peek(&token, t).is_some(), "still live at {t}");
        }
        assert!(s.peek(&token, SESSION_IDLE_MS + 1).is_none(), "idle: polls are not activity");
        assert!(s.touch(&token, SESSION_IDLE_MS + 2).is_none());
    }
}
