//! The policy every new password meets: an account's first, an admin's
//! reset, an officer's own change and the first admin's from
//! `MOTCUA_ADMIN_PASSWORD`.
//!
//! It follows NIST SP 800-63B-4 (Digital Identity Guidelines:
//! Authentication and Authenticator Management, August 2025), §3.1.1.2
//! "Password Verifiers": a password that is the only factor of a login is
//! at least 15 characters long (an officer's login here is a password
//! alone), at least 64 are accepted, no composition rule is imposed, and a
//! new password is compared with a blocklist of commonly used, expected or
//! compromised values and context-specific words such as the username.
//! The blocklist ships in the binary (`passwords/common.txt`, its sources
//! named in its header) and is compared without regard to case, so that a
//! node with no link still applies it.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The fewest characters (Unicode code points) of a password.
pub const PASSWORD_LEN_MIN: usize = 15;
/// The most characters of a password (argon2 hashes any length; this bounds
/// the work a request can ask for).
pub const PASSWORD_LEN_MAX: usize = 256;

static COMMON_TEXT: &str = include_str!("passwords/common.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRefusal {
    #[error("a password has at least {PASSWORD_LEN_MIN} characters")]
    TooShort,
    #[error("a password has at most {PASSWORD_LEN_MAX} characters")]
    TooLong,
    #[error(
        "this password is too easy to guess: it is a common password, one with digits or signs added, \
         the username, or one character repeated; choose another"
    )]
    Common,
}

impl PasswordRefusal {
    /// The API's error code for the refusal.
    pub fn code(self) -> &'static str {
        match self {
            PasswordRefusal::TooShort => "password_too_short",
            PasswordRefusal::TooLong => "password_too_long",
            PasswordRefusal::Common => "password_common",
        }
    }
}

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_TEXT.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect())
}

/// A password's letters and digits, lower case, without the digits it
/// ends with: `Matkhau@2026` and `mat-khau` both come to `matkhau`.
fn core(text: &str) -> String {
    let kept: String = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    kept.trim_end_matches(|c: char| c.is_ascii_digit()).to_string()
}

/// Whether `password` may be set for the account `username`.
pub fn check_new_password(password: &str, username: &str) -> Result<(), PasswordRefusal> {
    let length = password.chars().count();
    if length < PASSWORD_LEN_MIN {
        return Err(PasswordRefusal::TooShort);
    }
    if length > PASSWORD_LEN_MAX {
        return Err(PasswordRefusal::TooLong);
    }
    let lower = password.to_lowercase();
    let core = core(password);
    let first = password.chars().next();
    let repeated = password.chars().all(|c| Some(c) == first);
    let user = self::core(username);
    let guessable = common().contains(lower.as_str())
        || (!core.is_empty() && common().contains(core.as_str()))
        || (!user.is_empty() && core == user)
        || repeated;
    if guessable { Err(PasswordRefusal::Common) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_common_and_guessable_passwords_and_takes_others() {
        use PasswordRefusal::*;
        let cases: &[(&str, &str, Result<(), PasswordRefusal>)] = &[
            ("fourteen chars", "tiepnhan", Err(TooShort)),
            ("mật khẩu ngắn", "tiepnhan", Err(TooShort)),
            ("matkhau123", "tiepnhan", Err(TooShort)),
            (&"x".repeat(PASSWORD_LEN_MAX + 1), "tiepnhan", Err(TooLong)),
            // Common, in any case, and with digits or signs added.
            ("1qaz2wsx3edc4rfv", "tiepnhan", Err(Common)),
            ("1QAZ2wsx3EDC4rfv", "tiepnhan", Err(Common)),
            ("QwertyUIOP12345", "tiepnhan", Err(Common)),
            ("MatKhau123456789", "tiepnhan", Err(Common)),
            ("Mat-Khau@2026-2027", "tiepnhan", Err(Common)),
            ("motcua123456789", "tiepnhan", Err(Common)),
            ("Password-2026-05-17", "tiepnhan", Err(Common)),
            // The username, or one character.
            ("TiepNhan.2026.05.17", "tiepnhan.2026", Err(Common)),
            ("aaaaaaaaaaaaaaaa", "tiepnhan", Err(Common)),
            // Long and not on the list: taken, whatever it is made of.
            ("mat-khau-can-bo", "tiepnhan", Ok(())),
            ("ngựa đúng pin kẹp giấy", "tiepnhan", Ok(())),
            ("correct horse battery staple", "tiepnhan", Ok(())),
            ("tiepnhan-o-xa-binh-an", "tiepnhan", Ok(())),
        ];
        for (password, username, expected) in cases {
            assert_eq!(check_new_password(password, username), *expected, "{password:?} for {username}");
        }
    }

    #[test]
    fn the_list_is_read_whole_and_lower_case() {
        let list = common();
        assert!(list.len() > 10_000, "{}", list.len());
        assert!(list.iter().all(|p| *p == p.to_lowercase()));
        for p in ["123456", "password", "matkhau", "motcua123", "123456789"] {
            assert!(list.contains(p), "{p}");
        }
        assert!(!list.iter().any(|p| p.starts_with('#')), "the header is not an entry");
    }

    #[test]
    fn a_weak_first_admin_password_is_refused_and_creates_no_account() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        for weak in ["ngan-qua", "Motcua123456789"] {
            let e = crate::open::ensure_admin(&desk, Some(weak.into())).unwrap_err().to_string();
            assert!(e.contains("MOTCUA_ADMIN_PASSWORD refused"), "{e}");
            assert!(desk.store().account("admin").unwrap().is_none());
        }
        assert_eq!(crate::open::ensure_admin(&desk, Some("mat-khau-thu-nghiem".into())).unwrap(), None);
        assert!(desk.store().account("admin").unwrap().is_some());
        let other = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(other.path()).unwrap();
        let generated = crate::open::ensure_admin(&desk, None).unwrap().expect("a generated password");
        assert!(check_new_password(&generated, "admin").is_ok());
    }
}
