//! motcua's simulator.
//!
//! Owns seeded workloads — and, as the sync network is built, the virtual
//! clock, the simulated network with faults, simulated storage that
//! crashes, and the invariant checkers. One seed reproduces a run exactly.
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

pub mod workload;
