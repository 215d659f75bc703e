//! End-to-end tests: real `motcua` processes, real redb files, real HTTP;
//! and, for power loss, in-process nodes on a simulated disk (power.rs).

// The harness signals and limits the processes it starts through libc.
#![allow(unsafe_code)]

mod adversary;
mod allowance;
mod api;
mod applicants;
mod attachments;
mod bad_input;
mod catalog;
mod cli;
mod conflicts;
mod counter;
mod crash;
mod digitization;
mod enroll;
mod file_sync;
mod https;
mod keys;
mod merge;
mod power;
mod report_ii06a;
mod resume;
mod returning;
mod shutdown;
mod supplement;
mod sync;
mod thin_link;
mod web;
mod workflow;
