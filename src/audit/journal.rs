//! A person's local audit journal: JSON lines on their own disk, chained
//! with [`super::chain`], each entry written and fsynced before the action
//! it records is sent anywhere. Rotated by size without breaking the chain
//! (the next file's first entry links to the previous file's last).
//!
//! The journal is also the outbox: entries after the delivery cursor are
//! what still has to reach the gateway, in order, with the entry's id as
//! the op id so that a resend after a crash is recorded once.
//!
//! It must never let an action go unrecorded: every failure is an error the
//! caller must treat as "do not act".

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::{self, ChainError, ChainVerifier, Draft, GENESIS_HASH};
use super::link::Link;
use crate::protocol::AuditEntry;

/// The live file; rotated files are `journal.<seq after their last>.jsonl`.
const CURRENT: &str = "journal.jsonl";
const CURSOR: &str = "delivered.json";
/// Default size at which the live file is rotated.
pub const ROTATE_BYTES: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot write the local audit journal in {dir}: {source}; breakglass will not act unrecorded — free disk space or fix permissions"
    )]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the local audit journal {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: not a journal entry ({message})")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Chain { path: PathBuf, source: ChainError },
}

/// What the gateway has acknowledged of this journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last local seq the gateway recorded.
    pub delivered_seq: u64,
    /// The gateway's chain head as its reply to that entry said.
    #[serde(default)]
    pub gateway_seq: u64,
    #[serde(default)]
    pub gateway_head: String,
}

pub struct Journal {
    dir: PathBuf,
    actor: String,
    origin: String,
    file: File,
    size: u64,
    head_seq: u64,
    head_hash: String,
    rotate_at: u64,
}

fn write_err(dir: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Write {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Files of a journal directory, oldest first: rotated ones by first seq,
/// then the live file.
pub fn journal_files(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let read = |source| JournalError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut rotated: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(seq) = name
            .strip_prefix("journal.")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            rotated.push((seq, path));
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    let live = dir.join(CURRENT);
    if live.exists() {
        files.push(live);
    }
    Ok(files)
}

/// Reads every entry of one file; a torn last line (a crash mid-append,
/// never acknowledged) is reported beside the entries. Lines are parsed on
/// every core.
///
/// Torn means cut short: a line is appended with its newline in one write,
/// so only a last line the file ends inside of can be torn. A bad line that
/// ends in a newline was written whole and changed since: corrupt, even
/// when it is the last (else editing the newest entry into garbage would
/// pass for a crash).
pub fn read_file(path: &Path) -> Result<(Vec<AuditEntry>, bool), JournalError> {
    let bytes = std::fs::read(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let lines = non_blank_lines(&bytes, 0);
    let last = lines
        .last()
        .map(|(i, _)| *i)
        .filter(|_| !bytes.ends_with(b"\n"));
    let parsed = parse_on_every_core(&lines, || {
        |l: &[u8]| serde_json::from_slice::<AuditEntry>(l).map_err(|e| e.to_string())
    });
    let mut entries = Vec::with_capacity(parsed.len());
    let mut torn = false;
    for result in parsed {
        match result {
            Ok(e) => entries.push(e),
            // Only the very last line may be torn by a crash.
            Err((i, _)) if Some(i) == last => torn = true,
            Err((i, message)) => return Err(corrupt(path, i, message)),
        }
    }
    Ok((entries, torn))
}

/// How much of a file [`scan_links`] holds at once.
const SCAN_CHUNK: u64 = 16 << 20;

/// Reads one file as [`Link`]s, in order, handing each to `each` until it
/// returns false, without holding the file or its entries in memory (a
/// million-entry journal is checked in a couple of seconds this way). Says
/// whether the last line was torn, as [`read_file`] does (false when `each`
/// stopped the scan).
pub fn scan_links(path: &Path, each: impl FnMut(&Link) -> bool) -> Result<bool, JournalError> {
    scan_links_by(path, SCAN_CHUNK, each)
}

fn scan_links_by(
    path: &Path,
    chunk: u64,
    mut each: impl FnMut(&Link) -> bool,
) -> Result<bool, JournalError> {
    let read_err = |source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let mut buf: Vec<u8> = Vec::with_capacity(chunk as usize + 4096);
    // Lines before `buf`.
    let mut lines_before = 0;
    loop {
        let got = (&mut file)
            .take(chunk)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        let eof = got == 0;
        let cut = if eof {
            buf.len()
        } else {
            buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)
        };
        let lines = non_blank_lines(&buf[..cut], lines_before);
        // Before the end every chunk is cut after a newline; what is left
        // at the end has none: only a line there can be torn (see
        // `read_file`).
        let mut torn = false;
        let last = lines.last().map(|(i, _)| *i).filter(|_| eof);
        let parsed = parse_on_every_core(&lines, || {
            let mut scratch = Vec::with_capacity(512);
            move |l: &[u8]| Link::from_line(l, &mut scratch)
        });
        for result in parsed {
            match result {
                Ok(link) => {
                    if !each(&link) {
                        return Ok(false);
                    }
                }
                Err((i, _)) if Some(i) == last => torn = true,
                Err((i, message)) => return Err(corrupt(path, i, message)),
            }
        }
        if eof {
            return Ok(torn);
        }
        lines_before += buf[..cut].iter().filter(|b| **b == b'\n').count();
        buf.drain(..cut);
    }
}

fn corrupt(path: &Path, index: usize, message: String) -> JournalError {
    JournalError::Corrupt {
        path: path.to_path_buf(),
        line: index + 1,
        message,
    }
}

/// The lines of `bytes` that are not blank, with their index in the file
/// (`first` is the index of the first line of `bytes`).
fn non_blank_lines(bytes: &[u8], first: usize) -> Vec<(usize, &[u8])> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(i, l)| (first + i, l))
        .collect()
}

/// Parses `lines` in order, on every core when there are many; `make`
/// gives each thread its parser. Errors carry the line's index.
fn parse_on_every_core<T, F>(
    lines: &[(usize, &[u8])],
    make: impl Fn() -> F + Sync,
) -> Vec<Result<T, (usize, String)>>
where
    T: Send,
    F: FnMut(&[u8]) -> Result<T, String>,
{
    super::map_on_every_core(lines, || {
        let mut parse = make();
        move |(i, l): &(usize, &[u8])| parse(l).map_err(|e| (*i, e))
    })
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

impl Journal {
    /// Opens (creating) the journal in `dir` for `actor` writing from `origin`
    /// (e.g. `console:laptop`). A torn last line is cut off.
    pub fn open(dir: &Path, actor: &str, origin: &str) -> Result<Journal, JournalError> {
        let werr = write_err(dir);
        std::fs::create_dir_all(dir).map_err(&werr)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(&werr)?;
        }
        let files = journal_files(dir)?;
        let live = dir.join(CURRENT);
        let (mut head_seq, mut head_hash) = (0, GENESIS_HASH.to_string());
        // The head is the last entry of the newest file that has one.
        for path in files.iter().rev() {
            let (entries, torn) = read_file(path)?;
            if torn && *path == live {
                cut_torn_tail(path).map_err(&werr)?;
            }
            if let Some(last) = entries.last() {
                head_seq = last.seq;
                head_hash = last.hash.clone();
                break;
            }
        }
        let file = open_append(&live).map_err(&werr)?;
        let size = file.metadata().map_err(&werr)?.len();
        Ok(Journal {
            dir: dir.to_path_buf(),
            actor: actor.to_string(),
            origin: origin.to_string(),
            file,
            size,
            head_seq,
            head_hash,
            rotate_at: ROTATE_BYTES,
        })
    }

    /// Rotates the live file once it exceeds `bytes` (tests use small sizes).
    pub fn rotate_at(mut self, bytes: u64) -> Journal {
        self.rotate_at = bytes.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn head(&self) -> (u64, &str) {
        (self.head_seq, &self.head_hash)
    }

    /// Appends one action and makes it durable; only then may it happen.
    pub fn append(
        &mut self,
        action: &str,
        target: &str,
        detail: Value,
        at: DateTime<Utc>,
    ) -> Result<AuditEntry, JournalError> {
        let draft = Draft::new(&self.actor, &self.origin, action, target, detail, at);
        let entry = chain::seal(draft, self.head_seq + 1, &self.head_hash);
        let mut line = serde_json::to_vec(&entry).expect("entries serialize");
        line.push(b'\n');
        let dir = self.dir.clone();
        let werr = write_err(&dir);
        if self.size > 0 && self.size + line.len() as u64 > self.rotate_at {
            self.rotate().map_err(&werr)?;
        }
        if let Err(e) = self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
        {
            // Whatever part reached the file is a torn line the next open
            // cuts off; this entry did not happen.
            return Err(werr(e));
        }
        self.size += line.len() as u64;
        self.head_seq = entry.seq;
        self.head_hash = entry.hash.clone();
        Ok(entry)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let live = self.dir.join(CURRENT);
        let rotated = self
            .dir
            .join(format!("journal.{}.jsonl", self.head_seq + 1));
        // Named after the seq that follows its last entry: rotated files
        // sort by their place in the chain.
        std::fs::rename(&live, &rotated)?;
        self.file = open_append(&live)?;
        File::open(&self.dir)?.sync_all()?;
        self.size = 0;
        Ok(())
    }

    /// Entries the gateway has not acknowledged yet, oldest first, checked
    /// to chain on from the last delivered one. Only the newest files are
    /// read, back to the one holding that entry: a journal of months costs
    /// what its undelivered tail costs (and an old file that went bad does
    /// not hold up delivery; `audit verify` reports it).
    pub fn undelivered(&self) -> Result<Vec<AuditEntry>, JournalError> {
        let delivered = self.cursor()?.delivered_seq;
        if delivered >= self.head_seq {
            return Ok(Vec::new());
        }
        let mut newest_first = Vec::new();
        for path in journal_files(&self.dir)?.into_iter().rev() {
            let (entries, _) = read_file(&path)?;
            let holds_delivered = entries.first().is_some_and(|e| e.seq <= delivered);
            newest_first.push((path, entries));
            if holds_delivered {
                break;
            }
        }
        // Checked from the delivered entry on, its own hash included: when
        // it is gone, the gap names what stands in its place.
        let mut verifier = (delivered == 0).then(ChainVerifier::new);
        let mut undelivered = Vec::new();
        for (path, entries) in newest_first.into_iter().rev() {
            for e in entries.into_iter().filter(|e| e.seq >= delivered) {
                verifier
                    .get_or_insert_with(|| ChainVerifier::resume(delivered, e.prev_hash.clone()))
                    .push(&e)
                    .map_err(|source| JournalError::Chain {
                        path: path.clone(),
                        source,
                    })?;
                if e.seq > delivered {
                    undelivered.push(e);
                }
            }
        }
        Ok(undelivered)
    }

    /// How many entries wait for the gateway, without reading them.
    pub fn queued(&self) -> Result<u64, JournalError> {
        Ok(self.head_seq.saturating_sub(self.cursor()?.delivered_seq))
    }

    pub fn cursor(&self) -> Result<Cursor, JournalError> {
        let path = self.dir.join(CURSOR);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| JournalError::Corrupt {
                path,
                line: 1,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
            Err(source) => Err(JournalError::Read { path, source }),
        }
    }

    /// Records that the gateway has an entry, and its chain head then
    /// (atomically: write aside, fsync, rename).
    pub fn mark_delivered(&self, cursor: &Cursor) -> Result<(), JournalError> {
        let werr = write_err(&self.dir);
        let tmp = self.dir.join(format!("{CURSOR}.tmp"));
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)
            .map_err(&werr)?;
        f.write_all(&serde_json::to_vec(cursor).expect("cursor serializes"))
            .and_then(|_| f.sync_all())
            .map_err(&werr)?;
        std::fs::rename(&tmp, self.dir.join(CURSOR)).map_err(&werr)?;
        Ok(())
    }
}

fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(keep as u64)?;
    f.sync_all()
}

/// Reads and verifies every file of a journal directory as one chain.
pub fn read_dir_chain(dir: &Path) -> Result<Vec<AuditEntry>, JournalError> {
    let mut verifier = ChainVerifier::new();
    let mut all = Vec::new();
    for path in journal_files(dir)? {
        let (entries, _) = read_file(&path)?;
        for e in &entries {
            verifier.push(e).map_err(|source| JournalError::Chain {
                path: path.clone(),
                source,
            })?;
        }
        all.extend(entries);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A journal of `n` entries, all in its live file, and that file.
    fn live_file_of(n: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        for i in 0..n {
            j.append("logs.search", "payments", json!({"n": i}), now())
                .unwrap();
        }
        let path = dir.path().join(CURRENT);
        (dir, path)
    }

    /// Links of `path` read `chunk` bytes at a time, and the torn flag.
    fn scan(path: &Path, chunk: u64) -> Result<(Vec<Link>, bool), JournalError> {
        let mut links = Vec::new();
        let torn = scan_links_by(path, chunk, |l| {
            links.push(*l);
            true
        })?;
        Ok((links, torn))
    }

    #[test]
    fn scanning_reads_the_same_chain_as_reading_whatever_the_chunk_size() {
        let (_dir, path) = live_file_of(40);
        let (entries, _) = read_file(&path).unwrap();
        let expected: Vec<Link> = entries.iter().map(|e| Link::of_entry(e, true)).collect();
        // Chunks smaller than a line, around a line, and the whole file.
        for chunk in [50, 333, 1 << 20] {
            let (links, torn) = scan(&path, chunk).unwrap();
            assert_eq!(links, expected, "chunk {chunk}");
            assert!(!torn);
        }
    }

    #[test]
    fn scanning_tells_a_torn_tail_from_a_corrupt_line() {
        let (_dir, path) = live_file_of(5);
        let good = std::fs::read_to_string(&path).unwrap();
        // A crash mid-append leaves half a line at the end: torn, not corrupt.
        let last_len = good.lines().last().unwrap().len();
        std::fs::write(&path, &good[..good.len() - last_len / 2]).unwrap();
        for chunk in [64, 1 << 20] {
            let (links, torn) = scan(&path, chunk).unwrap();
            assert_eq!((links.len(), torn), (4, true), "chunk {chunk}");
        }
        // A last line edited into garbage was written whole (it ends in
        // a newline): corrupt, not torn, whichever way the file is read.
        let mut edited: Vec<String> = good.lines().map(str::to_string).collect();
        edited[4] = "garbage".into();
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        for chunk in [64, 1 << 20] {
            match scan(&path, chunk) {
                Err(JournalError::Corrupt { line, .. }) => assert_eq!(line, 5, "chunk {chunk}"),
                other => panic!("chunk {chunk}: {other:?}"),
            }
        }
        match read_file(&path) {
            Err(JournalError::Corrupt { line, .. }) => assert_eq!(line, 5),
            other => panic!("{other:?}"),
        }
        // The same damage on line 3, with lines after it, is corruption.
        let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
        lines[2].truncate(40);
        std::fs::write(&path, lines.join("\n") + "\n\n").unwrap();
        for chunk in [64, 1 << 20] {
            match scan(&path, chunk) {
                Err(JournalError::Corrupt { line, .. }) => assert_eq!(line, 3, "chunk {chunk}"),
                other => panic!("chunk {chunk}: {other:?}"),
            }
        }
    }

    fn now() -> DateTime<Utc> {
        crate::protocol::ts::now()
    }

    #[test]
    fn appended_entries_survive_a_reopen_and_chain_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        j.append("request.create", "payments", json!({"for": 1800}), now())
            .unwrap();
        j.append(
            "logs.search",
            "payments",
            json!({"pattern": "timeout"}),
            now(),
        )
        .unwrap();
        drop(j);
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        let e = j.append("grant.revoke", "grt-1", json!({}), now()).unwrap();
        assert_eq!(e.seq, 3);
        let all = read_dir_chain(dir.path()).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(chain::verify(&all), Ok(3));
    }

    #[test]
    fn the_journal_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let jdir = dir.path().join("j");
        let mut j = Journal::open(&jdir, "alice", "cli:test").unwrap();
        j.append("a", "t", json!({}), now()).unwrap();
        let mode = std::fs::metadata(jdir.join(CURRENT))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&jdir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn rotation_by_size_keeps_one_unbroken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test")
            .unwrap()
            .rotate_at(600);
        for i in 0..20 {
            j.append("logs.search", "payments", json!({"i": i}), now())
                .unwrap();
        }
        let files = journal_files(dir.path()).unwrap();
        assert!(files.len() > 3, "expected rotated files, got {files:?}");
        let all = read_dir_chain(dir.path()).unwrap();
        assert_eq!(all.len(), 20);
        assert_eq!(all.last().unwrap().seq, 20);
    }

    #[test]
    fn a_torn_last_line_is_cut_and_the_chain_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        j.append("a", "t", json!({}), now()).unwrap();
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(CURRENT))
            .unwrap();
        f.write_all(b"{\"seq\":2,\"id\":\"half").unwrap();
        drop(f);
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        assert_eq!(j.append("b", "t", json!({}), now()).unwrap().seq, 2);
        assert_eq!(read_dir_chain(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn undelivered_entries_are_those_after_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        for i in 0..4 {
            j.append("a", "t", json!({"i": i}), now()).unwrap();
        }
        j.mark_delivered(&Cursor {
            delivered_seq: 2,
            gateway_seq: 17,
            gateway_head: "ab".into(),
        })
        .unwrap();
        let seqs: Vec<u64> = j.undelivered().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
        assert_eq!(j.cursor().unwrap().gateway_seq, 17);
    }

    #[test]
    fn only_the_undelivered_tail_is_read_and_it_must_chain_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test")
            .unwrap()
            .rotate_at(600);
        let mut all = Vec::new();
        for i in 0..40 {
            all.push(j.append("a", "t", json!({"i": i}), now()).unwrap());
        }
        let files = journal_files(dir.path()).unwrap();
        assert!(files.len() > 5, "{files:?}");
        let cursor = |seq: u64| Cursor {
            delivered_seq: seq,
            gateway_seq: seq,
            gateway_head: "ab".into(),
        };
        j.mark_delivered(&cursor(33)).unwrap();
        assert_eq!(j.queued().unwrap(), 7);

        // The oldest file goes bad (corrupt, not merely torn): delivery
        // does not read it.
        std::fs::write(&files[0], b"not json\nnor this\n").unwrap();
        assert!(read_dir_chain(dir.path()).is_err());
        assert!(matches!(
            read_file(&files[0]),
            Err(JournalError::Corrupt { .. })
        ));
        let seqs: Vec<u64> = j.undelivered().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (34..=40).collect::<Vec<u64>>());
        assert_eq!(j.undelivered().unwrap(), all[33..]);

        // An undelivered entry that does not chain on is refused.
        let last = files.last().unwrap();
        let text = std::fs::read_to_string(last).unwrap();
        let edited = text.replacen("\"i\":39", "\"i\":390", 1);
        assert_ne!(text, edited, "entry 40 is in the live file");
        std::fs::write(last, edited).unwrap();
        let err = j.undelivered().unwrap_err();
        assert!(err.to_string().contains("entry 40"), "{err}");

        // The file holding the last delivered entry is gone: the gap is
        // named, nothing is sent.
        let gone = files
            .iter()
            .position(|f| read_file(f).is_ok_and(|(es, _)| es.iter().any(|e| e.seq == 33)))
            .unwrap();
        assert!(gone + 1 < files.len(), "entry 33 is in a rotated file");
        let after = read_file(&files[gone + 1]).unwrap().0[0].seq;
        std::fs::remove_file(&files[gone]).unwrap();
        let err = j.undelivered().unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("expected entry 33 but found entry {after}")),
            "{err}"
        );

        // All delivered: nothing is read at all.
        j.mark_delivered(&cursor(40)).unwrap();
        assert_eq!(j.queued().unwrap(), 0);
        assert!(j.undelivered().unwrap().is_empty());
    }

    #[test]
    fn a_full_disk_refuses_the_append_and_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "alice", "cli:test").unwrap();
        j.append("a", "t", json!({}), now()).unwrap();
        // /dev/full fails every write with ENOSPC, even for root.
        j.file = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let err = j.append("b", "t", json!({}), now()).unwrap_err();
        assert!(err.to_string().contains("will not act unrecorded"), "{err}");
        assert_eq!(j.head().0, 1, "a failed append must not move the head");
    }
}
