//! motcua's store: everything a node keeps on disk.
//!
//! - [`Store`] ([`store`](self)): one redb file holding dossier documents,
//!   their attestations, the indexes that lists and searches use, the
//!   daily code sequences, officer accounts, sync bookkeeping and the audit
//!   log; every table, its key and value, and the format history are in
//!   `docs/store.md`.
//! - [`committer`]: the single writer. Every write of a running node goes
//!   through it, in groups that share one durable fsync.
//! - [`files`]: the other files of a data directory, written whole or not
//!   at all, and durable before they are reported written.
//!
//! No async runtime, HTTP or network here: the desk (`motcua-desk`) calls
//! it from the node and from the technician's tool alike.

mod store;

pub mod committer;
pub mod files;

pub use store::*;
