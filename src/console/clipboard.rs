//! Putting copied log lines on the clipboard.
//!
//! Locally the system clipboard (arboard). Over SSH (`SSH_TTY` or
//! `SSH_CONNECTION` set), or with no display to talk to, OSC 52: the
//! terminal itself sets its clipboard from an escape sequence, wrapped in
//! tmux's passthrough (`ESC P tmux; … ESC \`) when `TMUX` is set. OSC 52
//! has a size cap ([`OSC52_MAX`]): larger copies are refused up front, not
//! cut. When arboard fails at run time, OSC 52 is tried instead.
//!
//! The system clipboard is written on a thread of its own ([`Clipboard`]):
//! the console's event loop never waits on the display server.
//!
//! Every copy is journaled before it gets here (see `Effect::Copy`).

use std::ffi::OsString;
use std::io::Write;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use super::app::{ClipOutcome, ClipVia, CopyJob};

/// The most an OSC 52 sequence carries, in base64 bytes (about 73 KiB of
/// text). hterm and several terminals ignore longer ones; refusing with a
/// clear message beats a copy that silently did nothing.
pub const OSC52_MAX: usize = 100_000;

/// How this console should copy, from its environment.
pub fn detect() -> ClipVia {
    detect_from(|k| std::env::var_os(k))
}

/// [`detect`] with the environment given (for tests).
pub fn detect_from(get: impl Fn(&str) -> Option<OsString>) -> ClipVia {
    let set = |k: &str| get(k).is_some_and(|v| !v.is_empty());
    let tmux = set("TMUX");
    let remote = set("SSH_TTY") || set("SSH_CONNECTION");
    // macOS and Windows always have a clipboard; elsewhere it needs X11
    // (or Wayland, through XWayland).
    let no_display =
        cfg!(all(unix, not(target_os = "macos"))) && !set("DISPLAY") && !set("WAYLAND_DISPLAY");
    if remote || no_display {
        ClipVia::Osc52 { tmux }
    } else {
        ClipVia::System
    }
}

/// Base64 bytes `n` bytes of text take.
pub fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Whether `n` bytes of text fit one OSC 52 sequence.
pub fn fits_osc52(n: usize) -> bool {
    encoded_len(n) <= OSC52_MAX
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(encoded_len(data.len()));
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The OSC 52 sequence setting the clipboard to `text`; None when it is
/// over the cap.
pub fn osc52(text: &str, tmux: bool) -> Option<Vec<u8>> {
    if !fits_osc52(text.len()) {
        return None;
    }
    let seq = format!("\x1b]52;c;{}\x07", base64(text.as_bytes()));
    if !tmux {
        return Some(seq.into_bytes());
    }
    // tmux passes a DCS through to the outer terminal, ESCs doubled.
    let mut out = Vec::with_capacity(seq.len() + 16);
    out.extend_from_slice(b"\x1bPtmux;");
    for b in seq.bytes() {
        if b == 0x1b {
            out.push(0x1b);
        }
        out.push(b);
    }
    out.extend_from_slice(b"\x1b\\");
    Some(out)
}

/// Why a copy cannot go through OSC 52, for the footer.
pub fn too_large(bytes: usize) -> String {
    format!(
        "not copied: {} KiB is more than a terminal takes through OSC 52 (about {} KiB); copy fewer lines",
        bytes.div_ceil(1024),
        OSC52_MAX / 4 * 3 / 1024
    )
}

/// Whether the console runs inside tmux (a fallback OSC 52 then needs
/// its passthrough).
pub fn in_tmux() -> bool {
    std::env::var_os("TMUX").is_some_and(|v| !v.is_empty())
}

/// Writes `text` to the system clipboard, or says why it could not.
pub type SystemWriter = Box<dyn FnMut(&str) -> Result<(), String> + Send>;

/// The system clipboard (arboard), opened on first use and kept open (on
/// X11 the copying process serves the selection).
fn arboard_writer() -> SystemWriter {
    let mut system: Option<Result<arboard::Clipboard, String>> = None;
    Box::new(move |text| {
        let opened = system.get_or_insert_with(|| {
            arboard::Clipboard::new().map_err(|e| {
                tracing::warn!(error = %e, "no system clipboard; using OSC 52");
                format!("no system clipboard: {e}")
            })
        });
        let c = opened.as_mut().map_err(|e| e.clone())?;
        c.set_text(text).map_err(|e| {
            tracing::warn!(error = %e, "clipboard write failed; using OSC 52");
            e.to_string()
        })
    })
}

/// A system clipboard write, back from its thread: done, or why not.
#[derive(Debug)]
pub struct SystemDone {
    pub job: Box<CopyJob>,
    pub result: Result<(), String>,
}

/// The runtime's clipboard.
///
/// OSC 52 goes to the terminal from the event loop, between frames (it
/// must not land inside one). The system clipboard lives on a thread of
/// its own: opening it connects to the display server and writing it
/// talks to that server, and either may block, which the event loop must
/// never do. That thread answers on the `done` channel the runtime
/// listens to; a write it could not make is then tried through OSC 52
/// ([`Clipboard::finish`]).
pub struct Clipboard {
    /// Whether a fallback OSC 52 needs tmux's passthrough.
    tmux: bool,
    done: mpsc::UnboundedSender<SystemDone>,
    /// How the thread writes, until it is started on the first copy.
    writer: Option<SystemWriter>,
    thread: Option<(std::sync::mpsc::Sender<Box<CopyJob>>, JoinHandle<()>)>,
}

impl Clipboard {
    /// The clipboard arboard gives; answers come on `done`.
    pub fn new(tmux: bool, done: mpsc::UnboundedSender<SystemDone>) -> Clipboard {
        Clipboard::with_system(tmux, done, arboard_writer())
    }

    /// [`Clipboard::new`] writing the system clipboard with `writer`.
    pub fn with_system(
        tmux: bool,
        done: mpsc::UnboundedSender<SystemDone>,
        writer: SystemWriter,
    ) -> Clipboard {
        Clipboard {
            tmux,
            done,
            writer: Some(writer),
            thread: None,
        }
    }

    /// Writes `job`'s text. OSC 52 goes to `out` (the terminal) at once
    /// and the outcome is returned; a system clipboard write is handed to
    /// its thread (None: the answer comes on `done`).
    pub fn write(&mut self, job: Box<CopyJob>, out: &mut impl Write) -> Option<ClipOutcome> {
        let (job, tmux) = match job.via {
            ClipVia::Osc52 { tmux } => (job, tmux),
            // Given back only when no thread could take it.
            ClipVia::System => (self.hand_to_thread(job).err()?, self.tmux),
        };
        Some(outcome(&job, write_osc52(&job, tmux, out)))
    }

    /// What became of a system write: done, or (when it failed) OSC 52
    /// written to `out` instead.
    pub fn finish(&self, done: SystemDone, out: &mut impl Write) -> ClipOutcome {
        let result = match done.result {
            Ok(()) => Ok("clipboard"),
            Err(_) => write_osc52(&done.job, self.tmux, out),
        };
        outcome(&done.job, result)
    }

    /// Hands `job` to the system clipboard's thread, started on first use;
    /// gives it back when there is no thread to take it.
    fn hand_to_thread(&mut self, job: Box<CopyJob>) -> Result<(), Box<CopyJob>> {
        if self.thread.is_none()
            && let Some(mut writer) = self.writer.take()
        {
            let (tx, rx) = std::sync::mpsc::channel::<Box<CopyJob>>();
            let done = self.done.clone();
            let spawned = std::thread::Builder::new()
                .name("clipboard".into())
                .spawn(move || {
                    for job in rx {
                        let result = writer(&job.text);
                        if done.send(SystemDone { job, result }).is_err() {
                            return;
                        }
                    }
                });
            match spawned {
                Ok(handle) => self.thread = Some((tx, handle)),
                Err(e) => tracing::warn!(error = %e, "no clipboard thread; using OSC 52"),
            }
        }
        match &self.thread {
            Some((tx, _)) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }
}

impl Drop for Clipboard {
    /// Waits for the system clipboard's thread: on X11 it hands what was
    /// copied to the clipboard manager as it closes, so that the copy
    /// outlives the console.
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.thread.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

fn outcome(job: &CopyJob, result: Result<&'static str, String>) -> ClipOutcome {
    ClipOutcome {
        lines: job.lines,
        bytes: job.bytes(),
        result,
    }
}

/// Writes `job`'s text to `out` (the terminal) as OSC 52.
fn write_osc52(job: &CopyJob, tmux: bool, out: &mut impl Write) -> Result<&'static str, String> {
    let seq = osc52(&job.text, tmux).ok_or_else(|| too_large(job.bytes()))?;
    out.write_all(&seq)
        .and_then(|_| out.flush())
        .map_err(|e| format!("not copied: writing to the terminal failed: {e}"))?;
    Ok("osc52")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
            assert_eq!(encoded_len(plain.len()), enc.len());
        }
    }

    #[test]
    fn osc52_is_wrapped_for_tmux_and_capped() {
        assert_eq!(osc52("hi", false).unwrap(), b"\x1b]52;c;aGk=\x07");
        assert_eq!(
            osc52("hi", true).unwrap(),
            b"\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
        );
        let big = "x".repeat(OSC52_MAX);
        assert!(osc52(&big, false).is_none());
        assert!(too_large(big.len()).contains("OSC 52"));
        let fits = "x".repeat(OSC52_MAX / 4 * 3);
        assert_eq!(osc52(&fits, false).unwrap().len(), OSC52_MAX + 8);
    }

    #[test]
    fn ssh_or_no_display_means_osc52() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            detect_from(env(&[("DISPLAY", ":0"), ("SSH_TTY", "/dev/pts/3")])),
            ClipVia::Osc52 { tmux: false }
        );
        assert_eq!(
            detect_from(env(&[
                ("DISPLAY", ":0"),
                ("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22"),
                ("TMUX", "/tmp/tmux-1000/default,1,0")
            ])),
            ClipVia::Osc52 { tmux: true }
        );
        if cfg!(all(unix, not(target_os = "macos"))) {
            assert_eq!(detect_from(env(&[])), ClipVia::Osc52 { tmux: false });
            assert_eq!(detect_from(env(&[("DISPLAY", ":0")])), ClipVia::System);
            assert_eq!(
                detect_from(env(&[("WAYLAND_DISPLAY", "wayland-0")])),
                ClipVia::System
            );
        }
    }

    #[test]
    fn osc52_copies_reach_the_terminal() {
        let job = CopyJob {
            text: "ERROR boom".into(),
            target: "payments".into(),
            lines: 1,
            what: "line",
            via: ClipVia::Osc52 { tmux: false },
        };
        let mut out = Vec::new();
        let (done, _) = mpsc::unbounded_channel();
        let how = Clipboard::new(false, done)
            .write(Box::new(job), &mut out)
            .expect("written at once")
            .result
            .unwrap();
        assert_eq!(how, "osc52");
        assert_eq!(out, osc52("ERROR boom", false).unwrap());
    }

    fn system_job() -> Box<CopyJob> {
        Box::new(CopyJob {
            text: "ERROR boom".into(),
            target: "payments".into(),
            lines: 1,
            what: "line",
            via: ClipVia::System,
        })
    }

    #[test]
    fn system_copies_are_written_off_the_callers_thread() {
        let copied = std::sync::Arc::new(std::sync::Mutex::new((String::new(), None)));
        let sink = copied.clone();
        let (done, mut answers) = mpsc::unbounded_channel();
        let mut clip = Clipboard::with_system(
            false,
            done,
            Box::new(move |text| {
                let mut seen = sink.lock().unwrap();
                seen.0.push_str(text);
                seen.1 = Some(std::thread::current().id());
                Ok(())
            }),
        );
        let mut out = Vec::new();
        assert!(
            clip.write(system_job(), &mut out).is_none(),
            "answered later"
        );
        let answer = answers.blocking_recv().expect("an answer");
        let outcome = clip.finish(answer, &mut out);
        assert_eq!(outcome.result, Ok("clipboard"));
        assert_eq!((outcome.lines, outcome.bytes), (1, 10));
        let (text, writer_thread) = copied.lock().unwrap().clone();
        assert_eq!(text, "ERROR boom");
        let caller = std::thread::current().id();
        assert!(
            writer_thread.is_some_and(|t| t != caller),
            "written on the caller's thread"
        );
        assert!(out.is_empty(), "nothing for the terminal");
    }

    #[test]
    fn a_failed_system_copy_goes_through_osc52_instead() {
        let (done, mut answers) = mpsc::unbounded_channel();
        let mut clip =
            Clipboard::with_system(true, done, Box::new(|_| Err("no display".to_string())));
        let mut out = Vec::new();
        assert!(clip.write(system_job(), &mut out).is_none());
        let outcome = clip.finish(answers.blocking_recv().expect("an answer"), &mut out);
        assert_eq!(outcome.result, Ok("osc52"));
        assert_eq!(out, osc52("ERROR boom", true).unwrap());
    }
}
