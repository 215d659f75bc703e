//! End-to-end tests: real `motcua` processes, real redb files, real HTTP.

mod api;
mod bad_input;
mod catalog;
mod cli;
mod crash;
mod enroll;
mod keys;
mod merge;
mod sync;
mod thin_link;
mod web;
mod workflow;
