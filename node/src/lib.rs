//! `motcua`: the edge node a one-stop center runs, as adapters around the
//! desk.
//!
//! The rules live in `motcua-domain`, signatures and the sync core in
//! `motcua-sync`, the redb store and its single writer in `motcua-store`,
//! and the application services in `motcua-desk`. This crate holds what
//! talks to the outside:
//!
//! - [`http`]: the HTTP API and web UI (axum), served over HTTPS on a
//!   center's LAN ([`http::tls`]), with the rate limits of what can be
//!   guessed ([`http::limits`]).
//! - [`net`]: the sync network (iroh): the endpoint, accepting and dialing
//!   peers, one sync session per connection, and the session's storage
//!   over the desk ([`net::replica`]).
//! - [`serve`]: starting and stopping a node, wiring the two to one desk.
//!
//! A desk action never waits on the network: it is validated, appended to
//! the dossier's Automerge document, signed, indexed and committed durably
//! in one redb transaction before the API answers.

pub mod blobs;
pub mod http;
pub mod net;
pub mod serve;
