//! Drives the console in a real terminal: tmux runs it, send-keys types,
//! capture-pane reads the screen as a person would see it.

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub name: String,
}

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("tmux is needed for the console tests ({e}); `.ci/run` installs it, or `apt-get install tmux`"))
}

impl Tmux {
    /// Starts `command` (a shell command line) in a detached session of the
    /// given size.
    pub fn start(command: &str, width: u16, height: u16) -> Tmux {
        let name = format!(
            "bg-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let out = tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Keep the pane after the program exits, to read its last words.
        tmux(&["set-option", "-w", "-t", &name, "remain-on-exit", "on"]);
        Tmux { name }
    }

    pub fn screen(&self) -> String {
        let out = tmux(&["capture-pane", "-p", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends keys in tmux's notation (`Enter`, `C-s`, `Tab`, or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.name.as_str()];
        args.extend_from_slice(keys);
        tmux(&args);
    }

    /// Types text literally.
    pub fn type_text(&self, text: &str) {
        tmux(&["send-keys", "-t", &self.name, "-l", text]);
    }

    /// Waits until the screen satisfies `pred`; panics with the screen if it
    /// never does. Generous limits: this is not a timing test.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_up_to(Duration::from_secs(20), what, pred)
    }

    /// The same for something that comes later than 20 s may allow (a
    /// grant running out).
    pub fn wait_for_up_to(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("waited {limit:?} for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(&format!("`{text}`"), |s| s.contains(text))
    }

    /// The pid of the program in the pane (the console itself, when the
    /// command `exec`s it, as `env` does).
    pub fn pane_pid(&self) -> i32 {
        let out = tmux(&["display-message", "-p", "-t", &self.name, "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("tmux names the pane's pid")
    }

    pub fn pane_dead(&self) -> bool {
        let out = tmux(&["display-message", "-p", "-t", &self.name, "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.name]);
    }
}
