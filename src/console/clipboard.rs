//! Putting copied log lines on the clipboard.
//!
//! Locally the system clipboard (arboard). Over SSH (`SSH_TTY` or
//! `SSH_CONNECTION` set), or with no display to talk to, OSC 52: the
//! terminal itself sets its clipboard from an escape sequence, wrapped in
//! tmux's passthrough (`ESC P tmux; … ESC \`) when `TMUX` is set. OSC 52
//! has a size cap ([`OSC52_MAX`]): larger copies are refused up front, not
//! cut. When arboard fails at run time, OSC 52 is tried instead.
//!
//! Every copy is journaled before it gets here (see `Effect::Copy`).

use std::ffi::OsString;
use std::io::Write;

use super::app::{ClipVia, CopyJob};

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

/// The runtime's clipboard: arboard, opened on first use and kept open
/// (on X11 the copying process serves the selection), with OSC 52 as the
/// fallback.
#[derive(Default)]
pub struct Clipboard {
    system: Option<arboard::Clipboard>,
    tried: bool,
    /// Whether a fallback OSC 52 needs tmux's passthrough.
    pub tmux: bool,
}

impl Clipboard {
    pub fn new(tmux: bool) -> Clipboard {
        Clipboard {
            system: None,
            tried: false,
            tmux,
        }
    }

    /// Writes `job`'s text; OSC 52 goes to `out` (the terminal). Returns
    /// how it went.
    pub fn write(&mut self, job: &CopyJob, out: &mut impl Write) -> Result<&'static str, String> {
        let tmux = match job.via {
            ClipVia::System => {
                if !self.tried {
                    self.tried = true;
                    match arboard::Clipboard::new() {
                        Ok(c) => self.system = Some(c),
                        Err(e) => tracing::warn!(error = %e, "no system clipboard; using OSC 52"),
                    }
                }
                if let Some(c) = &mut self.system {
                    match c.set_text(job.text.as_str()) {
                        Ok(()) => return Ok("clipboard"),
                        Err(e) => {
                            tracing::warn!(error = %e, "clipboard write failed; using OSC 52")
                        }
                    }
                }
                self.tmux
            }
            ClipVia::Osc52 { tmux } => tmux,
        };
        let seq = osc52(&job.text, tmux).ok_or_else(|| too_large(job.bytes()))?;
        out.write_all(&seq)
            .and_then(|_| out.flush())
            .map_err(|e| format!("not copied: writing to the terminal failed: {e}"))?;
        Ok("osc52")
    }
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
        let how = Clipboard::new(false).write(&job, &mut out).unwrap();
        assert_eq!(how, "osc52");
        assert_eq!(out, osc52("ERROR boom", false).unwrap());
    }
}
