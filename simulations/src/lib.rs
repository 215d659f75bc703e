//! motcua's simulator.
//!
//! Owns seeded workloads (`workload`) and the province simulation
//! (`province`): the real sync sessions and the real fold under a virtual
//! clock, a simulated network with faults, storage that crashes, and the
//! invariant checkers. One seed reproduces a run exactly.
//!
//! It never reads the wall clock or the OS's randomness: everything flows
//! from the seed.
//!
//! ```
//! use motcua_sim::workload::Workload;
//! let a: Vec<_> = Workload::new(42).take(3).collect();
//! let b: Vec<_> = Workload::new(42).take(3).collect();
//! assert_eq!(a, b);
//! ```

pub mod province;
pub mod workload;
