//! The `command` source: a program whose stdout is the stream, run in its
//! own process group so that stopping it also stops whatever it started
//! (`kubectl` plugins, a shell pipeline), restarted with backoff when it
//! exits.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Grace between SIGTERM and SIGKILL when a source stops.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Longest stderr line logged.
const STDERR_LINE_MAX: usize = 2048;

/// The running program; dropping it ends its whole process group.
pub struct Running {
    pub child: Child,
    pgid: Option<i32>,
}

impl Running {
    /// Starts `argv` (no shell) with stdout piped and stderr sent to the
    /// gateway's log under `service`.
    pub fn spawn(service: &str, argv: &[String]) -> std::io::Result<Running> {
        let (program, args) = argv.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command")
        })?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log_stderr(service.to_string(), stderr));
        }
        Ok(Running { child, pgid })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid else { return };
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created for this child; it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        // Whatever ignores SIGTERM goes after the grace period. A thread, so
        // that this works while the runtime is shutting down too.
        std::thread::spawn(move || {
            std::thread::sleep(KILL_GRACE);
            // SAFETY: as above.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        });
    }
}

async fn log_stderr(service: String, stderr: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(mut line)) = lines.next_line().await {
        if line.len() > STDERR_LINE_MAX {
            let mut cut = STDERR_LINE_MAX;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        tracing::warn!(%service, stderr = %line, "log source command");
    }
}

/// How long to wait before starting a program again: doubling from one
/// second to thirty, back to one after a run that lasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::FIRST }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(30);
    /// A run at least this long counts as healthy.
    const HEALTHY_RUN: Duration = Duration::from_secs(30);

    /// The wait after a run that lasted `ran`.
    pub fn after(&mut self, ran: Duration) -> Duration {
        if ran >= Self::HEALTHY_RUN {
            self.next = Self::FIRST;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }
}

/// Splits a byte stream into lines, holding a partial last line, cutting
/// lines longer than `max` bytes (the rest of such a line is skipped and
/// the cut marked).
pub struct LineReader<R> {
    reader: BufReader<R>,
    max: usize,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        LineReader {
            reader: BufReader::with_capacity(64 * 1024, reader),
            max,
            buf: Vec::new(),
        }
    }

    /// Waits for one line, then takes whatever further complete lines are
    /// already buffered, up to `max_lines`. `None` at end of stream (a
    /// partial last line is delivered first).
    pub async fn next_batch(&mut self, max_lines: usize) -> std::io::Result<Option<Vec<String>>> {
        let mut out = Vec::new();
        match self.read_line().await? {
            Some(line) => out.push(line),
            None => return Ok(None),
        }
        while out.len() < max_lines && self.reader.buffer().contains(&b'\n') {
            match self.read_line().await? {
                Some(line) => out.push(line),
                None => break,
            }
        }
        Ok(Some(out))
    }

    async fn read_line(&mut self) -> std::io::Result<Option<String>> {
        self.buf.clear();
        let mut skipped = 0usize;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.buf.is_empty() && skipped == 0 {
                    return Ok(None);
                }
                break;
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1),
                None => (available, available.len()),
            };
            let room = self.max.saturating_sub(self.buf.len());
            let keep = chunk.len().min(room);
            self.buf.extend_from_slice(&chunk[..keep]);
            skipped += chunk.len() - keep;
            let newline = done > chunk.len();
            self.reader.consume(done);
            if newline {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let mut line = String::from_utf8_lossy(&self.buf).into_owned();
        if skipped > 0 {
            line.push_str(&format!(" …[truncated {skipped} bytes]"));
        }
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(10);
        let waits: Vec<u64> = (0..7).map(|_| b.after(quick).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.after(Duration::from_secs(60)), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn lines_are_split_cut_and_the_partial_last_one_kept() {
        let input: &[u8] = b"one\r\ntwo\nabcdefghijklmnop\nlast";
        let mut r = LineReader::new(input, 8);
        let batch = r.next_batch(100).await.unwrap().unwrap();
        assert_eq!(batch, ["one", "two", "abcdefgh …[truncated 8 bytes]"]);
        // The partial last line comes alone, once the stream ends.
        assert_eq!(r.next_batch(100).await.unwrap().unwrap(), ["last"]);
        assert!(r.next_batch(100).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_size() {
        let input: &[u8] = b"a\nb\nc\n";
        let mut r = LineReader::new(input, 100);
        assert_eq!(r.next_batch(2).await.unwrap().unwrap(), ["a", "b"]);
        assert_eq!(r.next_batch(2).await.unwrap().unwrap(), ["c"]);
    }
}
