//! motcua's edge node: the process a one-stop center runs.
//!
//! Owns all real IO of a node: the redb store ([`store`]), the node's key
//! ([`identity`]), officer accounts and sessions ([`accounts`]) and the password policy
//! ([`passwords`]), the desk
//! operations that tie the domain rules to the store ([`desk`]) and commit
//! them in groups ([`committer`]), the HTTP
//! API ([`api`]), served over HTTPS on a center's LAN ([`tls`]), and the web UI's files ([`web`]). The rules themselves live
//! in `motcua-domain`; signatures and the sync core in `motcua-sync`, which
//! the node drives over iroh ([`network`]) with redb as its storage
//! ([`replica`]).
//!
//! A desk action never waits on the network: it is validated, appended to
//! the dossier's Automerge document, signed, indexed and committed durably
//! in one redb transaction before the API answers.

pub mod accounts;
pub mod allowance;
pub mod api;
pub mod committer;
pub mod config;
pub mod desk;
pub mod exchange;
pub mod files;
pub mod identity;
pub mod limits;
pub mod network;
pub mod passwords;
pub mod replica;
pub mod serve;
pub mod store;
pub mod tls;
pub mod web;

/// Wall-clock time in UTC milliseconds: the only clock the node reads.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
