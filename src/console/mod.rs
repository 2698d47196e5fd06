//! The incident console: a full-screen TUI for engineers, approvers and
//! leads. `app` + `update` are the pure state machine, `views` render it,
//! `runtime` wires the terminal, the network task and the timer together.

pub mod app;
pub mod big_digits;
pub mod clipboard;
#[cfg(test)]
mod fixtures;
pub mod keymap;
pub mod logs;
mod logs_update;
pub mod metrics;
mod metrics_update;
pub mod net;
pub mod runtime;
pub mod theme;
pub mod update;
pub mod views;
