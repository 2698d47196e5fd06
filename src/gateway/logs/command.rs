//! The `command` source: a program whose stdout is the stream, run in its
//! own process group so that stopping it also stops whatever it started
//! (`kubectl` plugins, a shell pipeline), restarted with backoff when it
//! exits.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::sources::LineSplitter;

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

/// Reads a byte stream as lines, cut as a followed file's are
/// ([`LineSplitter`]: a partial last line held until its newline or the
/// end of the stream, lines longer than `max` bytes cut and marked).
pub struct LineReader<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
    split: LineSplitter,
    /// Lines cut and not yet handed out.
    ready: VecDeque<String>,
    ended: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        LineReader {
            reader,
            max,
            buf: vec![0; 64 * 1024],
            split: LineSplitter::default(),
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// Waits for one line, then takes whatever further complete lines the
    /// same read brought, up to `max_lines`. `None` at end of stream (a
    /// partial last line is delivered first).
    pub async fn next_batch(&mut self, max_lines: usize) -> std::io::Result<Option<Vec<String>>> {
        while self.ready.is_empty() {
            if self.ended {
                return Ok(self.split.finish().map(|cut| vec![cut.text]));
            }
            let n = self.reader.read(&mut self.buf).await?;
            if n == 0 {
                self.ended = true;
                continue;
            }
            let ready = &mut self.ready;
            self.split
                .feed(&self.buf[..n], self.max, |cut, _| ready.push_back(cut.text));
        }
        let n = self.ready.len().min(max_lines.max(1));
        Ok(Some(self.ready.drain(..n).collect()))
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
    async fn a_long_line_is_cut_on_a_character_boundary_as_a_file_line_is() {
        let input = "abcdé\nabcdefgh\r\n".as_bytes();
        let mut r = LineReader::new(input, 5);
        assert_eq!(
            r.next_batch(100).await.unwrap().unwrap(),
            ["abcd …[truncated 2 bytes]", "abcde …[truncated 3 bytes]"]
        );
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_size() {
        let input: &[u8] = b"a\nb\nc\n";
        let mut r = LineReader::new(input, 100);
        assert_eq!(r.next_batch(2).await.unwrap().unwrap(), ["a", "b"]);
        assert_eq!(r.next_batch(2).await.unwrap().unwrap(), ["c"]);
    }
}
