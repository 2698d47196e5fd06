//! One CLI invocation's link to the gateway: the connection plus the
//! person's local journal. Actions are journaled (fsynced) before they are
//! sent and the journal's backlog is delivered after; reads are not
//! journaled.

use super::args::ClientArgs;
use super::{CliError, EXIT_FAILURE};
use crate::client::Connection;
use crate::client::recorder::{self, Recorder};
use crate::client::settings::{self, Target};
use crate::protocol::{ClientFrame, Op, ReceivedReply};

pub struct Session {
    pub conn: Connection,
    pub url: String,
    recorder: Recorder,
}

impl Session {
    /// Connects and opens the journal of the user the gateway says we are.
    pub async fn open(client: &ClientArgs) -> Result<Session, CliError> {
        let Target { url, token } =
            settings::resolve(client.gateway.as_deref(), client.token_file.as_deref())?;
        let conn = Connection::connect(&url, &token).await?;
        let dir = recorder::journal_dir(&recorder::data_dir(), &conn.user.name, &url);
        let recorder = Recorder::open(&dir, &conn.user.name, &recorder::origin("cli"))
            .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
        let session = Session {
            conn,
            url,
            recorder,
        };
        session.deliver().await;
        Ok(session)
    }

    /// An action: journaled first (refused if that fails), then sent.
    pub async fn act(&mut self, op: Op) -> Result<ReceivedReply, CliError> {
        let frame = ClientFrame::new(op);
        self.recorder
            .record_op(&frame)
            .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
        let reply = self.conn.call_frame(frame).await;
        self.deliver().await;
        Ok(reply?)
    }

    /// Records a user action that is not an op (sign-in, an export).
    pub async fn note(
        &mut self,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), CliError> {
        self.recorder
            .record(action, target, detail)
            .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
        self.deliver().await;
        Ok(())
    }

    /// A read: not journaled.
    pub async fn read(&self, op: Op) -> Result<ReceivedReply, CliError> {
        Ok(self.conn.call(op).await?)
    }

    /// Hands the journal's backlog to the gateway; what cannot go now stays
    /// queued on disk for the next command.
    async fn deliver(&self) {
        if let Err(e) = self.recorder.deliver(&self.conn).await {
            eprintln!("warning: local audit entries not yet delivered (kept for next time): {e}");
        }
    }
}
