//! Following log files like `tail -F`: one [`FileTail`] per path, one
//! [`MultiTail`] per configured glob, complete lines out.
//!
//! # What a follower guarantees
//!
//! - Lines come out whole and in file order: a partial last line is held
//!   until its newline arrives (a trailing `\r` is dropped). A line longer
//!   than [`TailOptions::max_line_bytes`] keeps its first bytes (cut on a
//!   UTF-8 boundary) followed by ` …[truncated N bytes]`, without ever
//!   buffering the rest.
//! - Rotation is noticed by polling, without inotify: the path's
//!   `(dev, inode)` changing (rename-and-create, delete-and-recreate, a
//!   symlink retargeted) and the file shrinking or being rewritten under us
//!   (copytruncate).
//!   - rename-and-create: the old file is read to its end, then the new one
//!     from its start; the old one is still read for
//!     [`TailOptions::rotate_wait`] after that, for a writer that has not
//!     reopened yet (its late lines arrive after the new file's first ones).
//!   - delete-and-recreate: the deleted file is read to its end and let go
//!     after `rotate_wait` (a deleted file's disk space is freed only when the
//!     last reader closes it); the new file is read from its start.
//!   - a path that does not exist yet (or whose directory does not): waited
//!     for, then read from its start.
//!   - copytruncate: when the file is shorter than what was read, or the
//!     bytes just before the read position changed (truncated and rewritten
//!     past that position between two polls), reading restarts at 0 and
//!     nothing before the truncation is read twice. **The unavoidable
//!     window:** lines appended after the last poll and before the truncation
//!     are in the copy only, never in the followed file, and are lost to any
//!     reader of the path (`tail -F` loses them too); the window is one
//!     [`TailOptions::poll_interval`]. Prefer rename-and-create rotation.
//! - A partial line left at the end of a rotated-away or truncated file is
//!   delivered as a line of its own: text is never glued across files.
//!
//! # History and `since_s`
//!
//! [`Since`] picks where reading starts in a file that exists at open: its
//! end (default; a partial last line is delivered whole once finished),
//! its start, or the last N complete lines and/or bytes. Every line read
//! from bytes that were already in the file at open has
//! [`TailLine::history`] set. The protocol's `since_s` is a time: read back
//! a bounded `Since::Last { lines, max_bytes }` and filter history lines
//! with [`super::timestamp::SinceFilter`].
//!
//! # Reading and fan-out
//!
//! A follower is pulled: `next_batch(max_lines).await` returns as soon as at
//! least one line is available, polls every `poll_interval` while idle and
//! reads again at once while data keeps arriving (it only yields to the
//! runtime between reads). Reads are plain `pread`s of at most 64 KiB,
//! bounded to 4 MiB per call, done between awaits: no `spawn_blocking`
//! per read (local files answer from the page cache), and `next_batch` is
//! cancel-safe, so a gateway task can `select!` it against its shutdown or
//! "last subscriber left" signal without losing or repeating a line.
//!
//! The gateway runs one reader per source and fans out: a task owning the
//! [`MultiTail`] that awaits `next_batch` and hands each batch to every
//! subscriber's bounded queue, or [`MultiTail::spawn`], a task that sends
//! batches into an `mpsc` channel and stops when the receiver is dropped.
//! Backpressure from that channel stops the reading (the file is the
//! buffer); dropping slow subscribers' lines is the hub's job.
//!
//! # This module must never
//! parse, redact or filter what a line says (levels, timestamps and secrets
//! are other modules' business), write to or lock the files it reads, or
//! hold a rotated-away file open longer than `rotate_wait`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// Bytes asked for in one `pread`.
const READ_CHUNK: usize = 64 * 1024;

/// Bytes read in one call at most, so one busy file cannot hold a runtime
/// thread for long; the next call continues at once.
const READ_BUDGET: usize = 4 * 1024 * 1024;

/// How far back from the end [`Since::End`] looks for the start of a
/// partial last line.
const END_LOOKBACK: u64 = 64 * 1024;

/// Bytes remembered just before the read position to notice a file that
/// was truncated and rewritten past that position between two polls.
const FINGERPRINT: usize = 32;

/// Rescans for which a [`MultiTail`] remembers where it stopped reading a
/// file (in case the file shows up again under a new matching name).
const OFFSET_MEMORY_RESCANS: u32 = 10;

/// Where reading starts in a file that exists when the follower opens it.
/// A file that appears later (new, recreated or rotated in) is always read
/// from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Only what is written from now on (a partial last line is delivered
    /// whole once its newline arrives).
    End,
    /// The whole file.
    Start,
    /// The last `lines` complete lines, reading back no more than
    /// `max_bytes`; when that limit comes first, the complete lines within
    /// the last `max_bytes` (the line the limit cuts is skipped).
    Last { lines: usize, max_bytes: u64 },
}

impl Since {
    /// The last `n` complete lines, however far back they start.
    pub fn lines(n: usize) -> Since {
        Since::Last {
            lines: n,
            max_bytes: u64::MAX,
        }
    }

    /// The complete lines within the last `n` bytes.
    pub fn bytes(n: u64) -> Since {
        Since::Last {
            lines: usize::MAX,
            max_bytes: n,
        }
    }
}

/// How a follower reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailOptions {
    /// Where to start in files that exist at open.
    pub since: Since,
    /// Longest line delivered whole, in bytes; longer ones are cut and
    /// marked (the marker comes on top).
    pub max_line_bytes: usize,
    /// Pause between polls while nothing new arrives.
    pub poll_interval: Duration,
    /// How long a rotated-away or deleted file is still read after the path
    /// moved on.
    pub rotate_wait: Duration,
    /// [`MultiTail`] only: how often the glob is expanded again.
    pub rescan_interval: Duration,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            since: Since::End,
            max_line_bytes: 16 * 1024,
            poll_interval: Duration::from_millis(25),
            rotate_wait: Duration::from_secs(5),
            rescan_interval: Duration::from_secs(1),
        }
    }
}

/// One complete line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailLine {
    /// Without its line ending; invalid UTF-8 replaced by U+FFFD.
    pub text: String,
    /// The line was longer than `max_line_bytes` and `text` ends with the
    /// ` …[truncated N bytes]` marker.
    pub truncated: bool,
    /// Read from bytes that were in the file when it was opened with a
    /// [`Since`] (as opposed to written afterwards).
    pub history: bool,
    /// The followed path (the name, not the rotated file's new name).
    pub path: Arc<Path>,
}

/// Why a file cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("cannot open `{}`: {source}; check that the gateway's user may read it", .path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read `{}`: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("`{}` is not a regular file; a `file` source follows files only", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "glob `{pattern}` {reason}; write a path whose file name may hold `*` and `?`, \
         e.g. /var/log/payments/*.log"
    )]
    Glob {
        pattern: String,
        reason: &'static str,
    },
}

/// A file's identity, which survives renames and changes on rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The last bytes before a read position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Recent {
    bytes: [u8; FINGERPRINT],
    len: usize,
}

impl Recent {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Appends bytes just read, keeping the last [`FINGERPRINT`].
    fn push(&mut self, data: &[u8]) {
        if data.len() >= FINGERPRINT {
            self.bytes
                .copy_from_slice(&data[data.len() - FINGERPRINT..]);
            self.len = FINGERPRINT;
            return;
        }
        let keep = self.len.min(FINGERPRINT - data.len());
        self.bytes.copy_within(self.len - keep..self.len, 0);
        self.bytes[keep..keep + data.len()].copy_from_slice(data);
        self.len = keep + data.len();
    }

    /// The bytes of `file` just before `pos`; empty if they cannot all be
    /// read (the file is shorter).
    fn read_before(file: &File, pos: u64) -> io::Result<Recent> {
        let mut recent = Recent::default();
        let n = pos.min(FINGERPRINT as u64) as usize;
        match file.read_exact_at(&mut recent.bytes[..n], pos - n as u64) {
            Ok(()) => recent.len = n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e),
        }
        Ok(recent)
    }
}

/// Where a [`MultiTail`] stopped reading a file, to resume it if it shows
/// up under another matching name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resume {
    id: FileId,
    pos: u64,
    recent: Recent,
}

/// Cuts bytes into lines, holding the unfinished one, as this module's
/// guarantees say: no line ending, a trailing `\r` dropped, a line longer
/// than the limit cut on a character boundary and marked
/// ` …[truncated N bytes]` without buffering the rest. A followed file is
/// read with one; so is any other byte stream of lines (a `command` log
/// source's stdout).
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// The unfinished line, at most `max_line_bytes`.
    line: Vec<u8>,
    /// Bytes of the unfinished line beyond `max_line_bytes`, not kept.
    dropped: u64,
    /// The last byte seen of the unfinished line was `\r`.
    last_cr: bool,
}

/// One line cut by a [`LineSplitter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutLine {
    /// Invalid UTF-8 replaced by U+FFFD.
    pub text: String,
    /// `text` ends with the ` …[truncated N bytes]` marker.
    pub truncated: bool,
}

impl LineSplitter {
    /// Cuts `chunk`, the next bytes of the stream, keeping at most `max`
    /// bytes of each line: `line(cut, end)` for each line it completes,
    /// `end` being the index in `chunk` just past that line's `\n`.
    pub fn feed(&mut self, chunk: &[u8], max: usize, mut line: impl FnMut(CutLine, usize)) {
        let mut rest = chunk;
        let mut end = 0;
        while let Some(nl) = rest.iter().position(|&c| c == b'\n') {
            end += nl + 1;
            let segment = &rest[..nl];
            if self.is_empty() && segment.len() <= max {
                // The common case: a whole line inside the chunk.
                let segment = segment.strip_suffix(b"\r").unwrap_or(segment);
                let text = String::from_utf8_lossy(segment).into_owned();
                line(
                    CutLine {
                        text,
                        truncated: false,
                    },
                    end,
                );
            } else {
                self.push(segment, max);
                line(self.take(), end);
            }
            rest = &rest[nl + 1..];
        }
        self.push(rest, max);
    }

    /// The unfinished line, if any, as a line of its own (the stream ended
    /// or moved to another file), leaving the splitter empty.
    pub fn finish(&mut self) -> Option<CutLine> {
        (!self.is_empty()).then(|| self.take())
    }

    /// Whether no unfinished line is held.
    pub fn is_empty(&self) -> bool {
        self.line.is_empty() && self.dropped == 0
    }

    fn push(&mut self, data: &[u8], max: usize) {
        let Some(&last) = data.last() else {
            return;
        };
        let keep = max.saturating_sub(self.line.len()).min(data.len());
        self.line.extend_from_slice(&data[..keep]);
        self.dropped += (data.len() - keep) as u64;
        self.last_cr = last == b'\r';
    }

    /// The unfinished line as a line, leaving the splitter empty.
    fn take(&mut self) -> CutLine {
        if self.last_cr {
            // Once a line is full every later byte is dropped, so the `\r`
            // is the last kept byte only when nothing was dropped.
            if self.dropped > 0 {
                self.dropped -= 1;
            } else {
                self.line.pop();
            }
        }
        let truncated = self.dropped > 0;
        let text = if truncated {
            // Cut on a character boundary; a split character counts as
            // dropped.
            let valid = match std::str::from_utf8(&self.line) {
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                _ => self.line.len(),
            };
            let dropped = self.dropped + (self.line.len() - valid) as u64;
            format!(
                "{} …[truncated {dropped} bytes]",
                String::from_utf8_lossy(&self.line[..valid])
            )
        } else {
            String::from_utf8_lossy(&self.line).into_owned()
        };
        self.line.clear();
        self.dropped = 0;
        self.last_cr = false;
        CutLine { text, truncated }
    }
}

/// One open file being read.
#[derive(Debug)]
struct OpenFile {
    file: File,
    id: FileId,
    /// Next byte to read.
    pos: u64,
    /// Lines ending at or before this offset are history.
    history_end: u64,
    recent: Recent,
    split: LineSplitter,
}

impl OpenFile {
    fn new(file: File, id: FileId, pos: u64, history_end: u64) -> io::Result<OpenFile> {
        let recent = Recent::read_before(&file, pos)?;
        Ok(OpenFile {
            file,
            id,
            pos,
            history_end,
            recent,
            split: LineSplitter::default(),
        })
    }

    /// Reads what is there into `out`, up to `max_lines` queued lines or the
    /// byte budget; `Ok(true)` if it stopped before the end of the file.
    fn read(
        &mut self,
        path: &Arc<Path>,
        max_line: usize,
        buf: &mut Vec<u8>,
        out: &mut VecDeque<TailLine>,
        max_lines: usize,
        budget: &mut usize,
    ) -> io::Result<bool> {
        if buf.is_empty() {
            buf.resize(READ_CHUNK, 0);
        }
        loop {
            if out.len() >= max_lines || *budget == 0 {
                return Ok(true);
            }
            let want = buf.len().min(*budget);
            let n = match self.file.read_at(&mut buf[..want], self.pos) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buf[..n];
            let (pos, history_end) = (self.pos, self.history_end);
            self.split.feed(chunk, max_line, |cut, end| {
                out.push_back(TailLine {
                    text: cut.text,
                    truncated: cut.truncated,
                    history: pos + end as u64 <= history_end,
                    path: path.clone(),
                });
            });
            self.recent.push(chunk);
            self.pos += n as u64;
            *budget -= n;
        }
    }

    /// Whether the file was truncated (copytruncate) since the last read:
    /// shorter than what was read, or the bytes just before the read
    /// position are not the ones read there. Returns the size too.
    fn truncated(&self) -> io::Result<(bool, u64)> {
        let size = self.file.metadata()?.len();
        if size < self.pos {
            return Ok((true, size));
        }
        if size > self.pos && self.recent.len > 0 {
            let now = Recent::read_before(&self.file, self.pos)?;
            return Ok((now.as_slice() != self.recent.as_slice(), size));
        }
        Ok((false, size))
    }

    /// Delivers a held partial line as a line of its own.
    fn flush(&mut self, path: &Arc<Path>, out: &mut VecDeque<TailLine>) {
        if let Some(cut) = self.split.finish() {
            out.push_back(TailLine {
                text: cut.text,
                truncated: cut.truncated,
                history: self.pos <= self.history_end,
                path: path.clone(),
            });
        }
    }

    /// Reads the file again from its start (after a truncation); the held
    /// partial line must have been flushed.
    fn restart(&mut self) {
        self.pos = 0;
        self.history_end = 0;
        self.recent = Recent::default();
    }

    fn resume(&self) -> Resume {
        Resume {
            id: self.id,
            pos: self.pos,
            recent: self.recent,
        }
    }
}

/// A rotated-away or deleted file still read until `until`.
#[derive(Debug)]
struct Draining {
    file: OpenFile,
    until: Instant,
}

/// Where a new follower starts.
#[derive(Debug, Clone, Copy)]
enum StartAt {
    /// A file present when following began: history per [`Since`].
    Since(Since),
    /// A file that appeared since: all of it, none of it history.
    Beginning,
    /// A file already read under another name: where that stopped.
    Resume(Resume),
}

/// Follows one path like `tail -F` (see the module documentation).
#[derive(Debug)]
pub struct FileTail {
    path: Arc<Path>,
    opts: TailOptions,
    /// The file the path names (or named, while it is missing).
    current: Option<OpenFile>,
    /// Older files still read, oldest first; read before `current`.
    draining: Vec<Draining>,
    /// Since when the path has been missing while `current` is open.
    missing_since: Option<Instant>,
    /// Lines read and not yet returned.
    ready: VecDeque<TailLine>,
    buf: Vec<u8>,
    /// Files let go since the owner last asked ([`MultiTail`] bookkeeping).
    closed: Vec<Resume>,
}

impl FileTail {
    /// Starts following `path`. A path that does not exist yet is waited
    /// for; one that exists but cannot be read, or is not a regular file, is
    /// an error.
    pub fn open(path: impl AsRef<Path>, opts: TailOptions) -> Result<FileTail, TailError> {
        FileTail::open_at(path.as_ref(), opts, StartAt::Since(opts.since))
    }

    fn open_at(path: &Path, opts: TailOptions, start: StartAt) -> Result<FileTail, TailError> {
        let mut tail = FileTail {
            path: Arc::from(path),
            opts,
            current: None,
            draining: Vec::new(),
            missing_since: None,
            ready: VecDeque::new(),
            buf: Vec::new(),
            closed: Vec::new(),
        };
        if let Some((file, meta)) = open_regular(path)? {
            let read_err = |source| TailError::Read {
                path: path.to_path_buf(),
                source,
            };
            let (id, size) = (FileId::of(&meta), meta.len());
            let (pos, history_end) = match start {
                StartAt::Since(since) => {
                    (history_start(&file, size, since).map_err(read_err)?, size)
                }
                StartAt::Beginning => (0, 0),
                StartAt::Resume(r) => {
                    let same = r.id == id
                        && r.pos <= size
                        && Recent::read_before(&file, r.pos).map_err(read_err)? == r.recent;
                    (if same { r.pos } else { 0 }, 0)
                }
            };
            tail.current = Some(OpenFile::new(file, id, pos, history_end).map_err(read_err)?);
        }
        Ok(tail)
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for at least one line and returns up to `max_lines` (at least
    /// 1). Cancel-safe. After an error the follower is still usable: lines
    /// read before it are returned by the next call, which retries.
    pub async fn next_batch(&mut self, max_lines: usize) -> Result<Vec<TailLine>, TailError> {
        loop {
            let (batch, more) = self.poll_batch(max_lines)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            if more {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(self.opts.poll_interval).await;
            }
        }
    }

    /// Up to `max_lines` lines available now, without waiting (possibly
    /// none).
    pub fn try_next_batch(&mut self, max_lines: usize) -> Result<Vec<TailLine>, TailError> {
        Ok(self.poll_batch(max_lines)?.0)
    }

    /// A batch and whether more can be read at once.
    fn poll_batch(&mut self, max_lines: usize) -> Result<(Vec<TailLine>, bool), TailError> {
        let max = max_lines.max(1);
        let more = self.ready.len() >= max || self.fill(max)?;
        let n = self.ready.len().min(max);
        let batch: Vec<TailLine> = self.ready.drain(..n).collect();
        Ok((batch, more || !self.ready.is_empty()))
    }

    /// Reads until `max_lines` are queued, the budget is spent or every file
    /// is at its end; `Ok(true)` if more can be read at once.
    fn fill(&mut self, max_lines: usize) -> Result<bool, TailError> {
        let now = Instant::now();
        let mut budget = READ_BUDGET;
        let max_line = self.opts.max_line_bytes;
        let read_err = |path: &Path, source| TailError::Read {
            path: path.to_path_buf(),
            source,
        };

        // Older files first: their lines come before the current file's.
        let mut i = 0;
        while i < self.draining.len() {
            let d = &mut self.draining[i];
            let more = d
                .file
                .read(
                    &self.path,
                    max_line,
                    &mut self.buf,
                    &mut self.ready,
                    max_lines,
                    &mut budget,
                )
                .map_err(|e| read_err(&self.path, e))?;
            if more {
                return Ok(true);
            }
            if now >= d.until {
                let mut d = self.draining.remove(i);
                d.file.flush(&self.path, &mut self.ready);
                self.closed.push(d.file.resume());
            } else {
                i += 1;
            }
        }

        if let Some(cur) = &mut self.current {
            let (truncated, size) = cur.truncated().map_err(|e| read_err(&self.path, e))?;
            if truncated {
                cur.flush(&self.path, &mut self.ready);
                cur.restart();
            }
            if size != cur.pos || truncated {
                let more = cur
                    .read(
                        &self.path,
                        max_line,
                        &mut self.buf,
                        &mut self.ready,
                        max_lines,
                        &mut budget,
                    )
                    .map_err(|e| read_err(&self.path, e))?;
                if more {
                    return Ok(true);
                }
            }
        }

        self.follow_path(now, max_lines, &mut budget)
    }

    /// Checks what the path names now: a new file is switched to (the old
    /// one drained first), a missing path lets the old file go after
    /// `rotate_wait`.
    fn follow_path(
        &mut self,
        now: Instant,
        max_lines: usize,
        budget: &mut usize,
    ) -> Result<bool, TailError> {
        let max_line = self.opts.max_line_bytes;
        let read_err = |path: &Path, source| TailError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = match std::fs::metadata(&*self.path) {
            Ok(meta) => meta,
            Err(e) if is_missing(&e) => {
                if self.current.is_some() {
                    let since = *self.missing_since.get_or_insert(now);
                    if now.duration_since(since) >= self.opts.rotate_wait {
                        let file = self.current.take().expect("checked above");
                        // Closed at the next poll that finds it at its end.
                        self.draining.push(Draining { file, until: now });
                        self.missing_since = None;
                    }
                }
                return Ok(false);
            }
            Err(source) => {
                return Err(TailError::Open {
                    path: self.path.to_path_buf(),
                    source,
                });
            }
        };
        self.missing_since = None;
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.id == FileId::of(&meta))
        {
            return Ok(false);
        }
        // A file we are not reading: first appearance, rename-and-create,
        // delete-and-recreate. Read from its start.
        let Some((file, meta)) = open_regular(&self.path)? else {
            return Ok(false);
        };
        let id = FileId::of(&meta);
        if self.current.as_ref().is_some_and(|c| c.id == id) {
            return Ok(false);
        }
        let new = OpenFile::new(file, id, 0, 0).map_err(|e| read_err(&self.path, e))?;
        if let Some(mut old) = self.current.replace(new) {
            let more = old
                .read(
                    &self.path,
                    max_line,
                    &mut self.buf,
                    &mut self.ready,
                    max_lines,
                    budget,
                )
                .map_err(|e| read_err(&self.path, e))?;
            self.draining.push(Draining {
                file: old,
                until: now + self.opts.rotate_wait,
            });
            if more {
                return Ok(true);
            }
        }
        let cur = self.current.as_mut().expect("just set");
        cur.read(
            &self.path,
            max_line,
            &mut self.buf,
            &mut self.ready,
            max_lines,
            budget,
        )
        .map_err(|e| read_err(&self.path, e))
    }

    /// No file open and nothing queued: the path is missing and everything
    /// it named has been read and let go.
    fn is_idle(&self) -> bool {
        self.current.is_none() && self.draining.is_empty() && self.ready.is_empty()
    }

    /// Whether this file is one of those being read.
    fn has_open(&self, id: FileId) -> bool {
        self.current
            .iter()
            .chain(self.draining.iter().map(|d| &d.file))
            .any(|f| f.id == id)
    }

    /// Where each open file's reading stands, and the files let go since
    /// the last call.
    fn take_positions(&mut self) -> Vec<Resume> {
        let mut all = std::mem::take(&mut self.closed);
        all.extend(
            self.current
                .iter()
                .chain(self.draining.iter().map(|d| &d.file))
                .map(OpenFile::resume),
        );
        all
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Opens a regular file for reading; `None` if it does not exist. Checks
/// the type before opening, so a FIFO never blocks the open.
fn open_regular(path: &Path) -> Result<Option<(File, Metadata)>, TailError> {
    let open_err = |source| TailError::Open {
        path: path.to_path_buf(),
        source,
    };
    let not_a_file = || TailError::NotAFile {
        path: path.to_path_buf(),
    };
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(not_a_file()),
        Ok(_) => {}
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(open_err(e)),
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(open_err(e)),
    };
    let meta = file.metadata().map_err(open_err)?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    Ok(Some((file, meta)))
}

/// The offset where reading starts for `since` in a file of `size` bytes.
fn history_start(file: &File, size: u64, since: Since) -> io::Result<u64> {
    match since {
        Since::Start => Ok(0),
        Since::End => lines_back(file, size, 0, END_LOOKBACK),
        Since::Last { lines, max_bytes } => lines_back(file, size, lines, max_bytes),
    }
}

/// The start of the last `lines` complete lines (0: the start of the
/// partial last line, or the end), reading back at most `max_bytes`.
fn lines_back(file: &File, size: u64, lines: usize, max_bytes: u64) -> io::Result<u64> {
    let window_start = size.saturating_sub(max_bytes);
    // One byte more than the window: a newline just before it means the
    // window starts with a whole line.
    let floor = window_start.saturating_sub(1);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut hi = size;
    let mut newlines = 0usize;
    let mut earliest = None;
    while hi > floor {
        let lo = hi.saturating_sub(READ_CHUNK as u64).max(floor);
        let chunk = &mut buf[..(hi - lo) as usize];
        match file.read_exact_at(chunk, lo) {
            Ok(()) => {}
            // Truncated while we looked: read it all from the start.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
        for (k, _) in chunk.iter().enumerate().rev().filter(|(_, c)| **c == b'\n') {
            let at = lo + k as u64;
            // The first newline met ends the last complete line; the one
            // after the `lines`-th ends the line before the first wanted.
            newlines += 1;
            if newlines > lines {
                return Ok(at + 1);
            }
            earliest = Some(at);
        }
        hi = lo;
    }
    if window_start == 0 {
        return Ok(0);
    }
    Ok(earliest.map_or(size, |at| at + 1))
}

/// A file pattern: a directory, and a file name in which `*` (any run of
/// characters) and `?` (one character) may stand. Neither matches a
/// leading `.` unless the pattern starts with one; only regular files (or
/// symlinks to them) match; `[…]`, `{…}` and wildcards in directories are
/// refused rather than taken literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    dir: PathBuf,
    name: Vec<char>,
}

impl Glob {
    pub fn new(pattern: impl AsRef<Path>) -> Result<Glob, TailError> {
        let path = pattern.as_ref();
        let text = path.to_string_lossy().into_owned();
        let refuse = |reason| TailError::Glob {
            pattern: text.clone(),
            reason,
        };
        if path.to_str().is_none() {
            return Err(refuse("is not valid UTF-8"));
        }
        if text.ends_with('/') {
            return Err(refuse("names a directory, not files"));
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(refuse("does not end in a file name"));
        };
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if dir.to_string_lossy().contains(['*', '?', '[', '{']) {
            return Err(refuse(
                "has a wildcard in a directory; only the file name may have one",
            ));
        }
        if name.contains(['[', '{']) {
            return Err(refuse(
                "uses `[…]` or `{…}`; only `*` and `?` are supported",
            ));
        }
        Ok(Glob {
            pattern: text,
            dir,
            name: name.chars().collect(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether a file name (no directory) matches.
    pub fn matches(&self, file_name: &str) -> bool {
        if file_name.starts_with('.') && self.name.first() != Some(&'.') {
            return false;
        }
        let s: Vec<char> = file_name.chars().collect();
        let p = &self.name;
        let (mut pi, mut si) = (0, 0);
        // Last `*` seen and the position in `s` it currently swallows to.
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
                pi += 1;
                si += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, si));
                pi += 1;
            } else if let Some((sp, ss)) = star {
                star = Some((sp, ss + 1));
                pi = sp + 1;
                si = ss + 1;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }

    /// The matching regular files, sorted; none if the directory does not
    /// exist.
    pub fn expand(&self) -> io::Result<Vec<PathBuf>> {
        let is_file = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file());
        if !self.name.iter().any(|&c| c == '*' || c == '?') {
            let path = self.dir.join(self.name.iter().collect::<String>());
            return Ok(if is_file(&path) {
                vec![path]
            } else {
                Vec::new()
            });
        }
        let read_from = if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.dir
        };
        let entries = match std::fs::read_dir(read_from) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if self.matches(name) {
                let path = self.dir.join(name);
                if is_file(&path) {
                    found.push(path);
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

/// The regular files matching `pattern` now, sorted (see [`Glob`]).
pub fn expand_glob(pattern: impl AsRef<Path>) -> Result<Vec<PathBuf>, TailError> {
    let glob = Glob::new(pattern)?;
    glob.expand().map_err(|source| TailError::Read {
        path: glob.dir.clone(),
        source,
    })
}

/// Follows every file matching a [`Glob`], picking up new matches every
/// `rescan_interval`, and interleaves their lines by arrival (files take
/// turns within a poll). Files present at open start at
/// [`TailOptions::since`] (history is per file: `Since::lines(100)` over
/// three files is up to 300 lines, file after file); files that appear
/// later are read from their start, except a file already read under
/// another matching name (a `app.log` → `app.1.log` rotation when the glob
/// matches both), which resumes where that reading stopped. A file that
/// cannot be read is reported in the gateway log once and retried; it
/// never stops the others.
#[derive(Debug)]
pub struct MultiTail {
    glob: Glob,
    opts: TailOptions,
    followers: Vec<Follower>,
    next_rescan: Instant,
    /// Which follower reads first in the next poll.
    turn: usize,
    /// Where reading of each recently seen file stopped, and the rescan
    /// that last saw it.
    offsets: HashMap<FileId, (Resume, u32)>,
    rescans: u32,
    /// What went wrong with paths and the pattern, each reported once.
    trouble: HashMap<PathBuf, String>,
}

#[derive(Debug)]
struct Follower {
    tail: FileTail,
    trouble: Option<String>,
}

impl MultiTail {
    /// Expands the pattern and opens what matches; only a malformed pattern
    /// is an error (a missing directory is waited for).
    pub fn open(pattern: impl AsRef<Path>, opts: TailOptions) -> Result<MultiTail, TailError> {
        let mut multi = MultiTail {
            glob: Glob::new(pattern)?,
            opts,
            followers: Vec::new(),
            next_rescan: Instant::now() + opts.rescan_interval,
            turn: 0,
            offsets: HashMap::new(),
            rescans: 0,
            trouble: HashMap::new(),
        };
        multi.rescan(true);
        Ok(multi)
    }

    /// The followed files, in no particular order.
    pub fn files(&self) -> Vec<&Path> {
        self.followers.iter().map(|f| f.tail.path()).collect()
    }

    /// Waits for at least one line and returns up to `max_lines` (at least
    /// 1), from whichever files have them. Cancel-safe.
    pub async fn next_batch(&mut self, max_lines: usize) -> Vec<TailLine> {
        loop {
            let (batch, more) = self.poll_batch(max_lines);
            if !batch.is_empty() {
                return batch;
            }
            if more {
                tokio::task::yield_now().await;
            } else {
                let until_rescan = self.next_rescan.saturating_duration_since(Instant::now());
                tokio::time::sleep(self.opts.poll_interval.min(until_rescan)).await;
            }
        }
    }

    /// Up to `max_lines` lines available now, without waiting.
    pub fn try_next_batch(&mut self, max_lines: usize) -> Vec<TailLine> {
        self.poll_batch(max_lines).0
    }

    /// Moves the follower into a task that sends batches of up to
    /// `max_lines` into a channel of `capacity` batches, and stops within a
    /// poll interval of the receiver being dropped (closing every file).
    /// Needs a tokio runtime.
    pub fn spawn(mut self, max_lines: usize, capacity: usize) -> mpsc::Receiver<Vec<TailLine>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    () = tx.closed() => return,
                    batch = self.next_batch(max_lines) => batch,
                };
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn poll_batch(&mut self, max_lines: usize) -> (Vec<TailLine>, bool) {
        let max = max_lines.max(1);
        let now = Instant::now();
        if now >= self.next_rescan {
            self.rescan(false);
            self.next_rescan = now + self.opts.rescan_interval;
        }
        let mut out = Vec::new();
        let mut more = false;
        let n = self.followers.len();
        for k in 0..n {
            if out.len() >= max {
                more = true;
                break;
            }
            let f = &mut self.followers[(self.turn + k) % n];
            match f.tail.poll_batch(max - out.len()) {
                Ok((lines, m)) => {
                    more |= m;
                    out.extend(lines);
                    if f.trouble.take().is_some() {
                        tracing::info!(path = %f.tail.path().display(), "log file readable again");
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    if f.trouble.as_ref() != Some(&message) {
                        tracing::warn!(error = %message, "log file source");
                        f.trouble = Some(message);
                    }
                }
            }
        }
        self.turn = self.turn.wrapping_add(1);
        (out, more)
    }

    /// Expands the glob again: follows new matches, forgets followers
    /// whose file is gone and fully read.
    fn rescan(&mut self, first: bool) {
        self.rescans = self.rescans.wrapping_add(1);
        let now = self.rescans;
        for f in &mut self.followers {
            for r in f.tail.take_positions() {
                self.offsets.insert(r.id, (r, now));
            }
        }
        let paths = match self.glob.expand() {
            Ok(paths) => {
                self.trouble.remove(Path::new(self.glob.as_str()));
                paths
            }
            Err(e) => {
                let e = TailError::Read {
                    path: self.glob.dir.clone(),
                    source: e,
                };
                self.report(PathBuf::from(self.glob.as_str()), &e);
                Vec::new()
            }
        };
        let matched: HashSet<&Path> = paths.iter().map(PathBuf::as_path).collect();
        self.followers
            .retain(|f| !f.tail.is_idle() || matched.contains(f.tail.path()));
        for path in &paths {
            if self.followers.iter().any(|f| f.tail.path() == path) {
                continue;
            }
            let start = if first {
                StartAt::Since(self.opts.since)
            } else {
                let Ok(meta) = std::fs::metadata(path) else {
                    continue;
                };
                let id = FileId::of(&meta);
                if self.followers.iter().any(|f| f.tail.has_open(id)) {
                    // Still being read under its old name; resumed from
                    // where that stops once it is let go.
                    continue;
                }
                match self.offsets.get(&id) {
                    Some((resume, _)) => StartAt::Resume(*resume),
                    None => StartAt::Beginning,
                }
            };
            match FileTail::open_at(path, self.opts, start) {
                Ok(tail) => {
                    self.trouble.remove(path);
                    self.followers.push(Follower {
                        tail,
                        trouble: None,
                    });
                }
                Err(e) => self.report(path.clone(), &e),
            }
        }
        self.offsets
            .retain(|_, (_, seen)| now.wrapping_sub(*seen) < OFFSET_MEMORY_RESCANS);
    }

    /// Logs a problem with a path once until it changes.
    fn report(&mut self, path: PathBuf, e: &TailError) {
        let message = e.to_string();
        if self.trouble.get(&path) != Some(&message) {
            tracing::warn!(pattern = %self.glob.as_str(), error = %message, "log file source");
            self.trouble.insert(path, message);
        }
    }
}

#[cfg(test)]
mod tests;
