//! An administrator's writes (quản trị): the province's documents a node
//! takes in (catalog of procedures, working calendar, revocation list) and
//! officer accounts. Like every write of a node, each is one transaction
//! through the store's single writer, with its audit line, committed
//! durably before it returns; what a running node holds in memory (the
//! catalog, calendar and trust in force) changes only after that. None
//! changes a dossier, so none wakes the sync sessions
//! ([`motcua_store::committer::Committer::record`]).

use std::sync::Arc;

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::Catalog;
use motcua_domain::workflow::Role;
use motcua_store::Write;
use motcua_sync::cert::{DocumentKind, SignedProvinceDocument};

use crate::accounts::{self, Account};
use crate::desk::{Desk, DeskError, NAME_LEN_MAX, Officer, audit, check_text};
use crate::now_ms;
use crate::open::REVOCATIONS_META;

/// Why a province document was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The node holds this kind of document at a sequence at least as new.
    #[error("this node holds {kind} sequence {held}; sequence {offered} is not newer")]
    Stale { kind: &'static str, held: u64, offered: u64 },
    #[error("account {0} exists")]
    AccountExists(String),
    #[error("no account {0}")]
    NoAccount(String),
    /// An officer changing their own password gave a wrong current one.
    #[error("changing your own password needs the current one (current_password)")]
    WrongCurrentPassword,
    #[error(transparent)]
    Desk(#[from] DeskError),
}

impl From<motcua_store::StoreError> for AdminError {
    fn from(e: motcua_store::StoreError) -> Self {
        AdminError::Desk(e.into())
    }
}

impl From<motcua_store::committer::CommitError<AdminError>> for AdminError {
    fn from(e: motcua_store::committer::CommitError<AdminError>) -> Self {
        match e {
            motcua_store::committer::CommitError::Operation(e) => e,
            motcua_store::committer::CommitError::Store(m) => AdminError::Desk(DeskError::Unavailable(m)),
        }
    }
}

/// A new officer account, as an administrator asks for it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub full_name: String,
    pub roles: Vec<Role>,
    pub password: String,
}

/// Takes a signed province document's sequence if it is newer than the
/// one held (an unsigned document, `None`, carries none).
pub fn advance_sequence(w: &mut Write, kind: DocumentKind, sequence: Option<u64>) -> Result<(), AdminError> {
    let Some(offered) = sequence else { return Ok(()) };
    let key = format!("{}_sequence", kind.as_str());
    let held = w.get_meta(&key)?.and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0);
    if offered <= held {
        return Err(AdminError::Stale { kind: kind.as_str(), held, offered });
    }
    w.put_meta(&key, &offered.to_le_bytes())?;
    Ok(())
}

impl Desk {
    /// Stores a province document of `kind` under meta key `key`, with its
    /// sequence (if signed) and an audit line naming `label`. Returns the
    /// lock of imports, to be held until the document is in force in
    /// memory too, so that two imports at once leave the newer both stored
    /// and in force.
    fn store_document(
        &self,
        by: &Officer,
        kind: DocumentKind,
        key: &'static str,
        bytes: Vec<u8>,
        sequence: Option<u64>,
        label: String,
    ) -> Result<std::sync::MutexGuard<'_, ()>, AdminError> {
        let one_at_a_time = self.admin_lock();
        let username = by.username.clone();
        self.committer().record(move |w| {
            advance_sequence(w, kind, sequence)?;
            w.put_meta(key, &bytes)?;
            audit(w, now_ms(), &username, &format!("import_{}", kind.as_str()), &label)?;
            Ok::<_, AdminError>(())
        })?;
        Ok(one_at_a_time)
    }

    /// Puts a catalog of procedures in force; `sequence` is a signed
    /// catalog's, which must be newer than the one held.
    pub fn import_catalog(&self, by: &Officer, catalog: Catalog, sequence: Option<u64>) -> Result<(), AdminError> {
        let bytes = serde_json::to_vec(&catalog).expect("catalog serializes");
        let _in_force =
            self.store_document(by, DocumentKind::Catalog, "catalog", bytes, sequence, catalog.version.clone())?;
        self.set_catalog(Arc::new(catalog));
        Ok(())
    }

    /// Puts a working calendar in force (`text` is its JSON as stored).
    pub fn import_calendar(
        &self,
        by: &Officer,
        text: String,
        calendar: WorkingCalendar,
        sequence: Option<u64>,
    ) -> Result<(), AdminError> {
        let version = calendar.version().to_string();
        let _in_force =
            self.store_document(by, DocumentKind::Calendar, "calendar", text.into_bytes(), sequence, version)?;
        self.set_calendar(Arc::new(calendar));
        Ok(())
    }

    /// Keeps the province's newer signed revocation list (already checked
    /// against a copy of the trust: `sequence` is its sequence, `json` the
    /// bytes received) and installs it in the trust in force.
    pub fn install_revocations(
        &self,
        by: &Officer,
        json: Vec<u8>,
        signed: &SignedProvinceDocument,
        sequence: u64,
    ) -> Result<(), AdminError> {
        let kind = DocumentKind::Revocations;
        let _in_force = self.store_document(by, kind, REVOCATIONS_META, json, Some(sequence), sequence.to_string())?;
        // Applied to the trust set as it is now, not to the copy checked
        // before: certificates that sessions admitted meanwhile stay, and a
        // list at least as new installed meanwhile (by a peer) is kept.
        self.with_trust_mut(|t| {
            let _ = t.set_revocations(signed);
        });
        Ok(())
    }

    /// Creates an officer account. The username, password and roles are
    /// checked by the caller's rules ([`crate::passwords`]); the name here.
    pub fn create_account(&self, by: &Officer, new: NewAccount) -> Result<Account, AdminError> {
        let full_name = check_text("full_name", &new.full_name, NAME_LEN_MAX, false)?;
        let account = Account {
            username: new.username,
            full_name,
            roles: new.roles,
            password_hash: accounts::hash_password(&new.password),
            created_at: now_ms(),
        };
        let stored = account.clone();
        let actor = by.username.clone();
        self.committer().record(move |w| {
            if w.account_exists(&stored.username)? {
                return Err(AdminError::AccountExists(stored.username));
            }
            w.put_account(&stored.username, &postcard::to_allocvec(&stored).expect("in memory"))?;
            audit(w, now_ms(), &actor, "create_account", &stored.username)?;
            Ok(())
        })?;
        Ok(account)
    }

    /// Sets an account's password. With `current`, the officer's own
    /// change: the current password is checked in the transaction that
    /// stores the new one.
    pub fn set_password(
        &self,
        by: &Officer,
        username: &str,
        current: Option<String>,
        password: &str,
    ) -> Result<(), AdminError> {
        // The slow hashing is done before the writer is asked, never in
        // it; the transaction then checks that the hash the current
        // password matched is still the one stored.
        let checked = match current {
            Some(current) => {
                let Some(account) = self.account(username)? else {
                    return Err(AdminError::NoAccount(username.to_string()));
                };
                let hash = account.password_hash;
                if !accounts::verify_password(&current, &hash) {
                    return Err(AdminError::WrongCurrentPassword);
                }
                Some(hash)
            }
            None => None,
        };
        let hash = accounts::hash_password(password);
        let (name, actor) = (username.to_string(), by.username.clone());
        self.committer().record(move |w| {
            let Some(bytes) = w.account(&name)? else { return Err(AdminError::NoAccount(name)) };
            let mut account = Account::decode(&bytes)?;
            if checked.is_some_and(|h| h != account.password_hash) {
                return Err(AdminError::WrongCurrentPassword);
            }
            account.password_hash = hash;
            w.put_account(&name, &postcard::to_allocvec(&account).expect("in memory"))?;
            audit(w, now_ms(), &actor, "set_password", &name)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Disables an account (it can no longer log in) or enables it again.
    pub fn set_account_disabled(&self, by: &Officer, username: &str, disable: bool) -> Result<(), AdminError> {
        let (name, actor) = (username.to_string(), by.username.clone());
        self.committer().record(move |w| {
            if !w.account_exists(&name)? {
                return Err(AdminError::NoAccount(name));
            }
            w.set_disabled(&name, disable.then(now_ms))?;
            let action = if disable { "disable_account" } else { "enable_account" };
            audit(w, now_ms(), &actor, action, &name)?;
            Ok(())
        })?;
        Ok(())
    }
}
