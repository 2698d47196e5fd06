//! The follower on real files in temporary directories. Timing is only ever
//! bounded generously (2 s per wait); deterministic cases use
//! `try_next_batch` between file operations.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::time::Duration;

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;

/// Longest any test waits for lines.
const PATIENCE: Duration = Duration::from_secs(2);

fn opts() -> TailOptions {
    TailOptions {
        poll_interval: Duration::from_millis(5),
        rotate_wait: Duration::from_millis(150),
        rescan_interval: Duration::from_millis(30),
        ..TailOptions::default()
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn numbered(prefix: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:03}")).collect()
}

fn as_file(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn texts(lines: &[TailLine]) -> Vec<String> {
    lines.iter().map(|l| l.text.clone()).collect()
}

/// Waits for `n` lines from a single-file follower.
async fn collect(tail: &mut FileTail, n: usize) -> Vec<TailLine> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, tail.next_batch(1000)).await {
            Ok(batch) => got.extend(batch.unwrap()),
            Err(_) => panic!("only {} of {n} lines arrived: {:?}", got.len(), texts(&got)),
        }
    }
    got
}

async fn collect_multi(tail: &mut MultiTail, n: usize) -> Vec<TailLine> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, tail.next_batch(1000)).await {
            Ok(batch) => got.extend(batch),
            Err(_) => panic!("only {} of {n} lines arrived: {:?}", got.len(), texts(&got)),
        }
    }
    got
}

/// Asserts nothing more arrives for a while (several polls and rotate_waits).
async fn assert_quiet(tail: &mut FileTail) {
    if let Ok(batch) = tokio::time::timeout(Duration::from_millis(250), tail.next_batch(1000)).await
    {
        panic!("unexpected lines: {:?}", texts(&batch.unwrap()));
    }
}

async fn assert_multi_quiet(tail: &mut MultiTail) {
    if let Ok(batch) = tokio::time::timeout(Duration::from_millis(250), tail.next_batch(1000)).await
    {
        panic!("unexpected lines: {:?}", texts(&batch));
    }
}

#[tokio::test]
async fn appended_lines_arrive_in_order() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "written before the follower started\n");
    let mut tail = FileTail::open(&path, opts()).unwrap();
    let want = numbered("line ", 1..=300);
    let writer = {
        let (path, want) = (path.clone(), want.clone());
        tokio::spawn(async move {
            for chunk in want.chunks(7) {
                append(&path, &as_file(chunk));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let got = collect(&mut tail, want.len()).await;
    writer.await.unwrap();
    assert_eq!(texts(&got), want);
    assert!(
        got.iter()
            .all(|l| !l.history && !l.truncated && *l.path == *path)
    );
    assert_quiet(&mut tail).await;
}

#[tokio::test]
async fn a_partial_line_is_held_until_its_newline() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    append(&path, "hel");
    assert_eq!(
        texts(&tail.try_next_batch(10).unwrap()),
        Vec::<String>::new()
    );
    append(&path, "lo\nwor");
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["hello"]);
    append(&path, "ld\n");
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["world"]);
}

#[tokio::test]
async fn a_partial_last_line_at_open_is_delivered_whole() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "old line\nhalf of a li");
    let mut tail = FileTail::open(&path, opts()).unwrap();
    assert!(tail.try_next_batch(10).unwrap().is_empty());
    append(&path, "ne\nnext\n");
    assert_eq!(
        texts(&tail.try_next_batch(10).unwrap()),
        ["half of a line", "next"]
    );
}

#[tokio::test]
async fn windows_line_endings_are_dropped() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    append(&path, "one\r\ntwo\r");
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["one"]);
    append(&path, "\nthree\r\n");
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["two", "three"]);
}

#[tokio::test]
async fn a_long_line_is_capped_with_a_marker() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut tail = FileTail::open(
        &path,
        TailOptions {
            max_line_bytes: 16,
            ..opts()
        },
    )
    .unwrap();
    // Arrives in pieces, and is never held whole.
    append(&path, &"x".repeat(10));
    assert!(tail.try_next_batch(10).unwrap().is_empty());
    append(&path, &"x".repeat(50));
    append(&path, &format!("{}\r\nshort\n", "x".repeat(40)));
    let lines = tail.try_next_batch(10).unwrap();
    assert_eq!(
        texts(&lines),
        [
            format!("{} …[truncated 84 bytes]", "x".repeat(16)),
            "short".to_string()
        ]
    );
    assert_eq!(
        lines.iter().map(|l| l.truncated).collect::<Vec<_>>(),
        [true, false]
    );
    // Exactly at the cap is not truncated; a character is never split.
    append(&path, &format!("{}\n{}\n", "y".repeat(16), "é".repeat(9)));
    let lines = tail.try_next_batch(10).unwrap();
    assert_eq!(
        texts(&lines),
        [
            "y".repeat(16),
            format!("{} …[truncated 2 bytes]", "é".repeat(8))
        ]
    );
}

#[tokio::test]
async fn invalid_utf8_is_replaced_not_fatal() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"bad \xff byte\nok\n")
        .unwrap();
    assert_eq!(
        texts(&tail.try_next_batch(10).unwrap()),
        ["bad \u{fffd} byte", "ok"]
    );
}

#[tokio::test]
async fn lines_already_in_the_file_are_not_replayed_by_default() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    append(&path, &as_file(&numbered("old ", 1..=50)));
    let mut tail = FileTail::open(&path, opts()).unwrap();
    append(&path, "new\n");
    assert_eq!(texts(&collect(&mut tail, 1).await), ["new"]);
    assert_quiet(&mut tail).await;
}

#[tokio::test]
async fn history_gives_the_last_n_lines_on_open() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let old = numbered("old ", 1..=5000);
    append(&path, &as_file(&old));
    let mut tail = FileTail::open(
        &path,
        TailOptions {
            since: Since::lines(3),
            ..opts()
        },
    )
    .unwrap();
    append(&path, "new\n");
    let got = collect(&mut tail, 4).await;
    assert_eq!(texts(&got), ["old 4998", "old 4999", "old 5000", "new"]);
    assert_eq!(
        got.iter().map(|l| l.history).collect::<Vec<_>>(),
        [true, true, true, false]
    );
}

#[tokio::test]
async fn history_larger_than_the_file_gives_the_whole_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "a\nb\npartial");
    for since in [Since::lines(100), Since::bytes(1 << 20), Since::Start] {
        let mut tail = FileTail::open(&path, TailOptions { since, ..opts() }).unwrap();
        assert_eq!(
            texts(&tail.try_next_batch(10).unwrap()),
            ["a", "b"],
            "{since:?}"
        );
    }
}

#[tokio::test]
async fn history_by_bytes_skips_the_line_the_limit_cuts() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    // Eight bytes a line.
    append(&path, &as_file(&numbered("line", 1..=10)));
    for (bytes, want) in [
        (20, vec!["line009", "line010"]),
        (16, vec!["line009", "line010"]),
        (15, vec!["line010"]),
        (7, vec![]),
    ] {
        let mut tail = FileTail::open(
            &path,
            TailOptions {
                since: Since::bytes(bytes),
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(
            texts(&tail.try_next_batch(100).unwrap()),
            want,
            "{bytes} bytes"
        );
    }
    // Both limits: whichever comes first.
    let since = Since::Last {
        lines: 5,
        max_bytes: 24,
    };
    let mut tail = FileTail::open(&path, TailOptions { since, ..opts() }).unwrap();
    assert_eq!(
        texts(&tail.try_next_batch(100).unwrap()),
        ["line008", "line009", "line010"]
    );
}

#[tokio::test]
async fn history_arrives_in_batches_of_the_asked_size() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let old = numbered("old ", 1..=250);
    append(&path, &as_file(&old));
    let mut tail = FileTail::open(
        &path,
        TailOptions {
            since: Since::Start,
            ..opts()
        },
    )
    .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let batch = tail.next_batch(100).await.unwrap();
        assert!(batch.len() <= 100);
        got.extend(batch);
    }
    assert_eq!(texts(&got), old);
}

#[tokio::test]
async fn rename_and_create_rotation_loses_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    let want = numbered("line ", 1..=120);
    let writer = {
        let (path, want) = (path.clone(), want.clone());
        tokio::spawn(async move {
            // The writer keeps its handle across the rename, like a logger
            // that reopens only when told to.
            let mut log = OpenOptions::new().append(true).open(&path).unwrap();
            for line in &want[..40] {
                writeln!(log, "{line}").unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            for line in &want[40..50] {
                writeln!(log, "{line}").unwrap();
            }
            fs::rename(&path, path.with_extension("log.1")).unwrap();
            // Written to the old file after the rename, before reopening.
            for line in &want[50..60] {
                writeln!(log, "{line}").unwrap();
            }
            let mut log = File::create(&path).unwrap();
            for chunk in want[60..].chunks(6) {
                log.write_all(as_file(chunk).as_bytes()).unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let got = collect(&mut tail, want.len()).await;
    writer.await.unwrap();
    assert_eq!(texts(&got), want);
    assert_quiet(&mut tail).await;
}

#[tokio::test]
async fn late_lines_in_a_renamed_file_still_arrive() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let mut old = File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    writeln!(old, "before rotation").unwrap();
    assert_eq!(
        texts(&tail.try_next_batch(10).unwrap()),
        ["before rotation"]
    );
    fs::rename(&path, path.with_extension("log.1")).unwrap();
    append(&path, "new file\n");
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["new file"]);
    // Polls that find the old file at its end do not let it go yet.
    assert!(tail.try_next_batch(10).unwrap().is_empty());
    // A writer that has not reopened yet.
    writeln!(old, "late in the old file").unwrap();
    append(&path, "new file again\n");
    assert_eq!(
        texts(&tail.try_next_batch(10).unwrap()),
        ["late in the old file", "new file again"]
    );
}

#[tokio::test]
async fn copytruncate_delivers_the_lines_after_the_truncation_once() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    // The application's handle, in append mode as loggers open it.
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    let before = numbered("before ", 1..=20);
    log.write_all(as_file(&before).as_bytes()).unwrap();
    assert_eq!(texts(&collect(&mut tail, 20).await), before);
    // logrotate's copytruncate.
    fs::copy(&path, path.with_extension("log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let after = numbered("after ", 1..=5);
    log.write_all(as_file(&after).as_bytes()).unwrap();
    assert_eq!(texts(&collect(&mut tail, 5).await), after);
    assert_quiet(&mut tail).await;
}

#[tokio::test]
async fn a_truncated_file_rewritten_past_the_read_position_is_read_from_its_start() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    log.write_all(b"old 1\nold 2\n").unwrap();
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["old 1", "old 2"]);
    // Truncated and refilled beyond the old size between two polls.
    log.set_len(0).unwrap();
    let after = numbered("after truncation ", 1..=4);
    log.write_all(as_file(&after).as_bytes()).unwrap();
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), after);
}

#[tokio::test]
async fn a_partial_line_cut_by_truncation_is_delivered_on_its_own() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    log.write_all(b"whole\nhalf").unwrap();
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["whole"]);
    log.set_len(0).unwrap();
    log.write_all(b"fresh\n").unwrap();
    assert_eq!(texts(&tail.try_next_batch(10).unwrap()), ["half", "fresh"]);
}

#[tokio::test]
async fn delete_and_recreate_is_followed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    append(&path, "first file\n");
    assert_eq!(texts(&collect(&mut tail, 1).await), ["first file"]);
    fs::remove_file(&path).unwrap();
    assert!(tail.try_next_batch(10).unwrap().is_empty());
    append(&path, "second file 1\nsecond file 2\n");
    assert_eq!(
        texts(&collect(&mut tail, 2).await),
        ["second file 1", "second file 2"]
    );
    assert_quiet(&mut tail).await;
}

#[tokio::test]
async fn a_deleted_file_is_let_go_after_rotate_wait() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let mut log = File::create(&path).unwrap();
    let mut tail = FileTail::open(&path, opts()).unwrap();
    fs::remove_file(&path).unwrap();
    writeln!(log, "written after the delete").unwrap();
    assert_eq!(
        texts(&collect(&mut tail, 1).await),
        ["written after the delete"]
    );
    let deadline = Instant::now() + PATIENCE;
    while !tail.is_idle() {
        assert!(Instant::now() < deadline, "still holding the deleted file");
        assert!(tail.try_next_batch(10).unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_file_that_appears_later_is_read_from_its_start() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("not-yet").join("app.log");
    let mut tail = FileTail::open(
        &path,
        TailOptions {
            since: Since::End,
            ..opts()
        },
    )
    .unwrap();
    assert!(tail.try_next_batch(10).unwrap().is_empty());
    fs::create_dir(path.parent().unwrap()).unwrap();
    append(&path, "one\ntwo\n");
    let got = collect(&mut tail, 2).await;
    assert_eq!(texts(&got), ["one", "two"]);
    assert!(got.iter().all(|l| !l.history));
}

#[tokio::test]
async fn a_directory_or_unreadable_path_is_an_error_that_says_so() {
    let dir = TempDir::new().unwrap();
    let err = FileTail::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, TailError::NotAFile { .. }), "{err:?}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn the_glob_matches_star_and_question_mark_in_the_file_name() {
    let dir = TempDir::new().unwrap();
    for name in [
        "a.log",
        "b.log",
        "ab.log",
        "c.txt",
        ".hidden.log",
        "a.log.1",
    ] {
        File::create(dir.path().join(name)).unwrap();
    }
    fs::create_dir(dir.path().join("dir.log")).unwrap();
    let names = |pattern: &str| -> Vec<String> {
        expand_glob(dir.path().join(pattern))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names("*.log"), ["a.log", "ab.log", "b.log"]);
    assert_eq!(names("?.log"), ["a.log", "b.log"]);
    assert_eq!(names("a*"), ["a.log", "a.log.1", "ab.log"]);
    assert_eq!(names(".*.log"), [".hidden.log"]);
    assert_eq!(names("*"), ["a.log", "a.log.1", "ab.log", "b.log", "c.txt"]);
    assert_eq!(names("c.txt"), ["c.txt"]);
    assert_eq!(names("missing.log"), Vec::<String>::new());
    assert_eq!(
        expand_glob(dir.path().join("no-such-dir/*.log")).unwrap(),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn wildcards_match_like_the_shell() {
    let g = |p: &str| Glob::new(p).unwrap();
    assert!(g("/l/a*b*c").matches("aXbYc"));
    assert!(g("/l/a*b*c").matches("abc"));
    assert!(g("/l/a*b*c").matches("abbbcbc"));
    assert!(!g("/l/a*b*c").matches("acb"));
    assert!(g("/l/*.log").matches("x.y.log"));
    assert!(!g("/l/*.log").matches("x.log.gz"));
    assert!(g("/l/??.log").matches("éa.log"));
    assert!(!g("/l/??.log").matches("a.log"));
    assert!(g("/l/**").matches("anything"));
    assert!(g("relative*.log").matches("relative-1.log"));
}

#[test]
fn unsupported_glob_patterns_are_refused_with_the_reason() {
    for (pattern, says) in [
        ("/var/*/app.log", "directory"),
        ("/var/log/?/app.log", "directory"),
        ("/var/log/[ab].log", "only `*` and `?`"),
        ("/var/log/{a,b}.log", "only `*` and `?`"),
        ("/var/log/", "names a directory"),
        ("/var/log/..", "file name"),
    ] {
        let err = Glob::new(pattern).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(says), "{pattern}: {text}");
        assert!(
            text.contains("/var/log/payments/*.log"),
            "{pattern}: {text}"
        );
    }
}

#[tokio::test]
async fn the_glob_picks_up_a_new_file() {
    let dir = TempDir::new().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "old a\n");
    let mut multi = MultiTail::open(dir.path().join("*.log"), opts()).unwrap();
    append(&a, "a 1\n");
    let b = dir.path().join("b.log");
    append(&b, "b 1\nb 2\n");
    append(&dir.path().join("b.txt"), "not matched\n");
    let got = collect_multi(&mut multi, 3).await;
    let mut pairs: Vec<(String, String)> = got
        .iter()
        .map(|l| {
            (
                l.path.file_name().unwrap().to_string_lossy().into_owned(),
                l.text.clone(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("a.log".into(), "a 1".into()),
            ("b.log".into(), "b 1".into()),
            ("b.log".into(), "b 2".into())
        ]
    );
    assert_multi_quiet(&mut multi).await;
}

#[tokio::test]
async fn lines_from_several_files_interleave_and_keep_each_files_order() {
    let dir = TempDir::new().unwrap();
    let names = ["a.log", "b.log", "c.log"];
    for name in names {
        File::create(dir.path().join(name)).unwrap();
    }
    let mut multi = MultiTail::open(dir.path().join("*.log"), opts()).unwrap();
    let writers: Vec<_> = names
        .iter()
        .map(|name| {
            let path = dir.path().join(name);
            let prefix = format!("{name} ");
            tokio::spawn(async move {
                for chunk in numbered(&prefix, 1..=100).chunks(10) {
                    append(&path, &as_file(chunk));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect();
    let got = collect_multi(&mut multi, 300).await;
    for w in writers {
        w.await.unwrap();
    }
    for name in names {
        let mine: Vec<String> = got
            .iter()
            .filter(|l| l.path.ends_with(name))
            .map(|l| l.text.clone())
            .collect();
        assert_eq!(mine, numbered(&format!("{name} "), 1..=100));
    }
}

#[tokio::test]
async fn history_applies_to_files_present_at_open_and_new_files_are_read_whole() {
    let dir = TempDir::new().unwrap();
    append(&dir.path().join("a.log"), "a old 1\na old 2\na old 3\n");
    let mut multi = MultiTail::open(
        dir.path().join("*.log"),
        TailOptions {
            since: Since::lines(1),
            ..opts()
        },
    )
    .unwrap();
    let first = collect_multi(&mut multi, 1).await;
    assert_eq!(texts(&first), ["a old 3"]);
    assert!(first[0].history);
    append(&dir.path().join("b.log"), "b 1\nb 2\n");
    let got = collect_multi(&mut multi, 2).await;
    assert_eq!(texts(&got), ["b 1", "b 2"]);
    assert!(
        got.iter().all(|l| !l.history),
        "written after open: {got:?}"
    );
}

#[tokio::test]
async fn a_file_rotated_to_a_matching_name_is_not_read_twice() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let mut old = File::create(&path).unwrap();
    let mut multi = MultiTail::open(dir.path().join("*.log"), opts()).unwrap();
    writeln!(old, "first").unwrap();
    assert_eq!(texts(&collect_multi(&mut multi, 1).await), ["first"]);
    // Rotated to a name the glob also matches.
    fs::rename(&path, dir.path().join("app.1.log")).unwrap();
    append(&path, "second\n");
    assert_eq!(texts(&collect_multi(&mut multi, 1).await), ["second"]);
    // Past rotate_wait and several rescans the old file is followed under
    // its new name from where it was left.
    tokio::time::sleep(opts().rotate_wait * 2).await;
    assert_multi_quiet(&mut multi).await;
    writeln!(old, "late").unwrap();
    assert_eq!(texts(&collect_multi(&mut multi, 1).await), ["late"]);
    assert_multi_quiet(&mut multi).await;
    let mut files: Vec<_> = multi.files().iter().map(|p| p.to_path_buf()).collect();
    files.sort();
    assert_eq!(files, [dir.path().join("app.1.log"), path]);
}

#[tokio::test]
async fn late_lines_in_a_file_rotated_to_a_matching_name_arrive_once() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    let mut old = File::create(&path).unwrap();
    let opts = TailOptions {
        rotate_wait: Duration::from_secs(1),
        ..opts()
    };
    let mut multi = MultiTail::open(dir.path().join("*.log"), opts).unwrap();
    fs::rename(&path, dir.path().join("app.1.log")).unwrap();
    append(&path, "new\n");
    assert_eq!(texts(&collect_multi(&mut multi, 1).await), ["new"]);
    // Several rescans see app.1.log while the old name's follower still
    // reads it (within rotate_wait).
    assert_multi_quiet(&mut multi).await;
    writeln!(old, "late").unwrap();
    assert_eq!(texts(&collect_multi(&mut multi, 1).await), ["late"]);
    assert_multi_quiet(&mut multi).await;
}

#[tokio::test]
async fn a_pattern_whose_directory_appears_later_is_followed() {
    let dir = TempDir::new().unwrap();
    let logs = dir.path().join("later");
    let mut multi = MultiTail::open(logs.join("*.log"), opts()).unwrap();
    assert!(multi.try_next_batch(10).is_empty());
    fs::create_dir(&logs).unwrap();
    append(&logs.join("x.log"), "hello\n");
    assert_eq!(texts(&collect_multi(&mut multi, 1).await), ["hello"]);
}

#[tokio::test]
async fn the_spawned_reader_stops_when_the_receiver_is_dropped() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let multi = MultiTail::open(dir.path().join("*.log"), opts()).unwrap();
    let mut rx = multi.spawn(100, 4);
    append(&path, "one\n");
    let batch = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(texts(&batch), ["one"]);
    // The reader task holds the path; once it has stopped only we do.
    let held = batch[0].path.clone();
    drop(batch);
    drop(rx);
    let deadline = Instant::now() + PATIENCE;
    while Arc::strong_count(&held) > 1 {
        assert!(Instant::now() < deadline, "reader still running");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

proptest! {
    #[test]
    fn lines_are_the_same_however_the_bytes_are_split(
        text in "[a-z\\r\\n é]{0,200}",
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let bytes = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort();
        let mut split = LineSplitter::default();
        let mut out = VecDeque::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            split.feed(&bytes[at..cut], 1 << 20, |l, _| out.push_back(l));
            at = cut;
        }
        let got: Vec<String> = out.into_iter().map(|l| l.text).collect();
        let whole = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
        let want: Vec<String> = if text.contains('\n') {
            whole.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()).collect()
        } else {
            Vec::new()
        };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn capped_lines_never_exceed_the_cap_plus_marker(
        line in "[a-zé€]{0,100}",
        max in 1usize..40,
        cut in 0usize..100,
    ) {
        let full = format!("{line}\n");
        let bytes = full.as_bytes();
        let cut = cut.min(bytes.len());
        let mut split = LineSplitter::default();
        let mut out = VecDeque::new();
        split.feed(&bytes[..cut], max, |l, _| out.push_back(l));
        split.feed(&bytes[cut..], max, |l, _| out.push_back(l));
        prop_assert_eq!(out.len(), 1);
        let got = &out[0];
        if line.len() <= max {
            prop_assert_eq!(&got.text, &line);
            prop_assert!(!got.truncated);
        } else {
            let (kept, marker) = got.text.split_once(" …[truncated ").unwrap();
            prop_assert!(kept.len() <= max);
            prop_assert!(line.starts_with(kept));
            let dropped = line.len() - kept.len();
            prop_assert_eq!(marker, format!("{dropped} bytes]"));
            prop_assert!(got.truncated);
        }
    }
}
