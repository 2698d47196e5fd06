//! breakglass: just-in-time access to production logs and metrics.
//!
//! The library behind the one `breakglass` binary: the wire protocol both
//! halves speak, the pure deciding code (policy, lifecycle, audit chain),
//! the gateway server and the client.

pub mod audit;
pub mod cli;
pub mod client;
pub mod console;
pub mod demo;
pub mod duration;
pub mod failpoint;
pub mod gateway;
pub mod lifecycle;
pub mod metrics;
pub mod policy;
pub mod protocol;
pub mod ratelimit;
pub mod redact;
pub mod sim;
pub mod sources;
