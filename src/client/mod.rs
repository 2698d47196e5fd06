//! The client half: how the CLI and the console find, reach and talk to a
//! gateway. Shared by both so that a script and the console behave alike.

pub mod audit;
pub mod connection;
pub mod settings;

pub use connection::{ClientError, Connection};
pub mod recorder;
