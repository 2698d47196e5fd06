//! Audit trail (DESIGN.md section 5). [`chain`] holds the pure hash-chain
//! logic shared by the gateway's chain and the console's local journal.

pub mod chain;
pub mod checkpoint;
pub mod journal;
pub mod link;
pub mod report;
