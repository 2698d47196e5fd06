//! An append-only log file rotated like logrotate's default: rename to
//! `.1` (older ones shifted up, the oldest dropped), then a fresh file, so
//! a follower sees the old file end and the new one begin.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::fs::{self, File, OpenOptions};
use tokio::io::AsyncWriteExt;

use super::SimError;

pub(super) struct LogFile {
    path: PathBuf,
    file: File,
    len: u64,
    rotate_bytes: u64,
    keep: usize,
}

impl LogFile {
    /// Opens `path` for appending, creating it and its directory.
    pub async fn open(path: &Path, rotate_bytes: u64, keep: usize) -> Result<LogFile, SimError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).await.map_err(io_at(dir))?;
        }
        let file = append(path).await?;
        let len = file.metadata().await.map_err(io_at(path))?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            len,
            rotate_bytes,
            keep,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `bytes` (whole lines), then rotates if the file has grown
    /// past its limit: a batch is never split across two files.
    pub async fn append(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.file
            .write_all(bytes)
            .await
            .map_err(io_at(&self.path))?;
        // tokio's File finishes writes in the background; a rename must not
        // overtake them.
        self.file.flush().await.map_err(io_at(&self.path))?;
        self.len += bytes.len() as u64;
        if self.len >= self.rotate_bytes {
            self.rotate().await?;
        }
        Ok(())
    }

    async fn rotate(&mut self) -> Result<(), SimError> {
        if self.keep == 0 {
            fs::remove_file(&self.path)
                .await
                .map_err(io_at(&self.path))?;
        } else {
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                match fs::rename(&from, numbered(&self.path, n + 1)).await {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_at(&from)(e)),
                    _ => {}
                }
            }
            fs::rename(&self.path, numbered(&self.path, 1))
                .await
                .map_err(io_at(&self.path))?;
        }
        self.file = append(&self.path).await?;
        self.len = 0;
        Ok(())
    }
}

/// `x.log` → `x.log.N`.
pub(super) fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

async fn append(path: &Path) -> Result<File, SimError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(io_at(path))
}

pub(super) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(path: &Path) -> String {
        fs::read_to_string(path).await.unwrap_or_default()
    }

    #[tokio::test]
    async fn past_the_limit_the_file_moves_to_dot_one_and_older_ones_shift_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc").join("svc.log");
        let mut log = LogFile::open(&path, 10, 3).await.unwrap();
        for i in 0..5 {
            log.append(format!("line {i} is long\n").as_bytes())
                .await
                .unwrap();
        }
        assert_eq!(read(&path).await, "");
        assert_eq!(read(&numbered(&path, 1)).await, "line 4 is long\n");
        assert_eq!(read(&numbered(&path, 2)).await, "line 3 is long\n");
        assert_eq!(read(&numbered(&path, 3)).await, "line 2 is long\n");
        assert!(!numbered(&path, 4).exists(), "only three are kept");
    }

    #[tokio::test]
    async fn under_the_limit_lines_accumulate_and_reopening_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = LogFile::open(&path, 1 << 20, 3).await.unwrap();
        log.append(b"one\n").await.unwrap();
        drop(log);
        let mut log = LogFile::open(&path, 1 << 20, 3).await.unwrap();
        assert_eq!(log.len(), 4);
        log.append(b"two\n").await.unwrap();
        assert_eq!(read(&path).await, "one\ntwo\n");
    }

    #[tokio::test]
    async fn keeping_none_starts_over_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = LogFile::open(&path, 4, 0).await.unwrap();
        log.append(b"12345\n").await.unwrap();
        log.append(b"x\n").await.unwrap();
        assert_eq!(read(&path).await, "x\n");
        assert!(!numbered(&path, 1).exists());
    }
}
