//! motcua's domain: the one-stop (một cửa) rules as pure code.
//!
//! Owns the dossier document schema ([`dossier`]), the workflow state
//! machine ([`workflow`]), the fold that derives a dossier's state from its
//! events ([`fold`]), the working calendar and deadline arithmetic
//! ([`calendar`]), the procedure catalog and its import ([`catalog`]),
//! dossier codes ([`codes`]) and the province's statistics ([`stats`]).
//!
//! It never touches a clock, a socket or a file: instants come in as UTC
//! milliseconds, documents as Automerge values. The node, the provisioning
//! tool and the simulator all use this one crate, so every replica and
//! every simulated run applies exactly the same rules.
//!
//! ```
//! use motcua_domain::calendar::{ProcessingTime, TimeUnit, WorkingCalendar};
//! let cal = WorkingCalendar::builtin();
//! // Received Monday 2025-11-17 09:00 (UTC+7) = 02:00 UTC; 3 working days.
//! let received = 1_763_344_800_000;
//! let due = cal
//!     .due_at(received, ProcessingTime { amount: 3, unit: TimeUnit::WorkingDays, same_day: false })
//!     .unwrap();
//! assert_eq!(due, received + 3 * 86_400_000); // Thursday 09:00
//! ```

pub mod actor;
pub mod attachment;
pub mod authority;
pub mod calendar;
pub mod catalog;
pub mod codes;
pub mod dossier;
#[doc(hidden)]
pub mod fixtures;
pub mod fold;
pub mod returning;
pub mod stats;
pub mod workflow;
