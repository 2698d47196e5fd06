//! Fault injection for the crash tests, off unless `BREAKGLASS_FAILPOINT`
//! is set: `BREAKGLASS_FAILPOINT=POINT:NAME` makes the thread that reaches
//! `POINT` for `NAME` hang for good, so that a test can `kill -9` the
//! process in exactly that window. The points:
//!
//! * `journaled:ACTION` — a client has fsynced ACTION to its journal and
//!   has sent nothing yet;
//! * `committed:OP` — the gateway has committed OP (state, audit entry and
//!   stored reply) and has not answered yet.
//!
//! Hanging, not stopping: tmux resumes a pane whose program was stopped.
//! Read once; unset, each point is one comparison.

use std::sync::OnceLock;

pub const ENV: &str = "BREAKGLASS_FAILPOINT";

/// Hangs the calling thread forever when the environment asks for
/// `point:name`.
pub fn hang_if(point: &str, name: &str) {
    static WANTED: OnceLock<Option<(String, String)>> = OnceLock::new();
    let wanted = WANTED.get_or_init(|| {
        let v = std::env::var(ENV).ok()?;
        let (p, n) = v.split_once(':')?;
        Some((p.to_string(), n.to_string()))
    });
    if wanted
        .as_ref()
        .is_some_and(|(p, n)| p == point && n == name)
    {
        tracing::warn!(point, name, "{ENV}: hanging here for a crash test");
        let hang = || loop {
            std::thread::park();
        };
        // On a multi-threaded runtime the worker's queued tasks move to
        // another thread first, so the rest of the process keeps serving
        // (a test reads the gateway's state while one op hangs).
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(hang),
            _ => hang(),
        }
    }
}
