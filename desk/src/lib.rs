//! motcua's desk: the application services of a node, with no HTTP and no
//! network.
//!
//! The one-stop rules live in `motcua-domain`, the store in `motcua-store`;
//! the desk ties them together for whoever drives a node: the HTTP API and
//! the sync network of the `motcua` binary, and the technician's tool
//! `motcua-provision`.
//!
//! - [`open`]: opening a data directory as a node (its bundle, trust and
//!   first admin account).
//! - [`desk`]: [`Desk`], its parts and errors, and the checks shared by
//!   its operations: [`receive`] (tiếp nhận), [`act`] (an officer's
//!   action), [`attach`] (a scanned component or result file), [`rate`] (the citizen's rating), [`read`] (lists, searches, logbook, tracking), [`views`]
//!   (what a page shows), [`admin`] (province documents, accounts).
//! - [`entry`]: what the store keeps for sync beside each document.
//! - [`exchange`]: export files and the handover of a merged unit's
//!   records.
//! - [`accounts`], [`passwords`]: officer accounts, login sessions and the
//!   password policy.
//! - [`config`], [`identity`]: the node's configuration and key.
//! - [`allowance`]: each peer's daily allowance of new dossiers.
//! - [`guidance`]: counter guidance and refusal before receipt (forms 02
//!   and 03), kept on this node only.
//!
//! A desk action never waits on the network: it is validated, appended to
//! the dossier's Automerge document, signed, indexed and committed durably
//! through the store's single writer before it returns.

pub mod accounts;
pub mod act;
pub mod admin;
pub mod allowance;
pub mod attach;
pub mod config;
pub mod desk;
pub mod entry;
pub mod error;
pub mod exchange;
pub mod guidance;
pub mod identity;
pub mod open;
pub mod passwords;
pub mod rate;
pub mod read;
pub mod receive;
pub mod views;

pub use desk::{Desk, DeskError};

/// Wall-clock time in UTC milliseconds: the only clock a node reads.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
