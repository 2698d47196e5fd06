//! Wires the console together: the terminal (raw mode, alternate screen,
//! mouse, restored on exit and on panic), an input task, the network task
//! and the UI loop that feeds messages to `update` and redraws — only when
//! something changed, at most every ~16 ms, inside synchronized updates.
//!
//! The UI loop never awaits the network or the system clipboard (each
//! has a task or thread of its own): it only drains messages.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{execute, terminal};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use super::app::{App, Effect, Msg};
use super::clipboard::{self, Clipboard, SystemDone};
use super::logs::{DEFAULT_CAPACITY, LogsState};
use super::net::{self, Command};
use super::theme::Theme;
use super::{update, views};

/// The shortest time between two frames (bursts coalesce into one).
const FRAME_MIN: Duration = Duration::from_millis(16);
/// The longest the loop spends applying queued messages before it draws:
/// a flood of log lines must not starve the screen (or the keys).
const DRAIN_MAX: Duration = Duration::from_millis(12);

/// The Logs pane's buffer size for a `log_buffer_lines` setting (the
/// default when unset; [`LogsState::new`] keeps it within what the pane
/// allows).
fn log_buffer_lines(setting: Option<usize>) -> usize {
    setting.unwrap_or(DEFAULT_CAPACITY)
}

/// How the console was asked to start.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    pub url: String,
    pub token: String,
    pub theme: String,
    pub read_only: bool,
    pub bell: bool,
    /// Where the console keeps its audit journals.
    pub journal_base: std::path::PathBuf,
    /// `log_buffer_lines` from config.toml, if set.
    pub log_buffer_lines: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the console needs a terminal: {0}")]
    Terminal(#[from] io::Error),
    #[error("theme: {0}")]
    Theme(String),
}

/// Puts the terminal back however the console ends.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        Ok(TerminalGuard)
    }
}

fn restore() {
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

async fn read_input(tx: mpsc::UnboundedSender<Msg>) {
    let mut events = EventStream::new();
    while let Some(Ok(event)) = events.next().await {
        let msg = match event {
            // Some terminals report releases and repeats too; act on presses.
            TermEvent::Key(k) if k.kind == KeyEventKind::Press => Msg::Key(k),
            TermEvent::Mouse(m) => Msg::Mouse(m),
            TermEvent::Resize(w, h) => Msg::Resize(w, h),
            _ => continue,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

fn load_theme(name: &str) -> Result<Theme, ConsoleError> {
    Theme::from_env(name).map_err(|e| ConsoleError::Theme(e.to_string()))
}

/// Runs the console until the user quits.
pub async fn run(opts: ConsoleOptions) -> Result<(), ConsoleError> {
    let mut theme = load_theme(&opts.theme)?;
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let (ui_tx, mut ui_rx) = mpsc::unbounded_channel::<Msg>();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel::<Command>();
    let net_task = tokio::spawn(net::run(
        opts.url.clone(),
        opts.token,
        opts.journal_base.clone(),
        ui_tx.clone(),
        cmd_rx,
    ));
    let input_task = tokio::spawn(read_input(ui_tx.clone()));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;

    let mut app = App::new(opts.url, Utc::now());
    app.read_only = opts.read_only;
    app.bell = opts.bell;
    app.theme = opts.theme.clone();
    app.logs = LogsState::new(log_buffer_lines(opts.log_buffer_lines));
    app.clipboard = clipboard::detect();
    let (clip_tx, mut clip_rx) = mpsc::unbounded_channel::<SystemDone>();
    let mut clip = Clipboard::new(clipboard::in_tmux(), clip_tx);
    let size = terminal.size()?;
    app.size = (size.width, size.height);
    let mut mouse_on = app.mouse;
    let mut theme_loaded = opts.theme.clone();
    let mut drawn: Option<u64> = None;
    let mut last_frame = Instant::now() - FRAME_MIN;

    loop {
        if drawn != Some(app.generation) {
            let since = last_frame.elapsed();
            if since < FRAME_MIN {
                tokio::time::sleep(FRAME_MIN - since).await;
                // Whatever arrived meanwhile goes into this frame.
                drain(&mut app, &mut ui_rx, &cmd_tx, &mut clip);
            }
            app.local_now = Utc::now();
            execute!(io::stdout(), BeginSynchronizedUpdate)?;
            terminal.draw(|f| views::draw(f, &app, &theme))?;
            execute!(io::stdout(), EndSynchronizedUpdate)?;
            drawn = Some(app.generation);
            last_frame = Instant::now();
        }
        if app.quit {
            break;
        }
        let now = Utc::now();
        let sleep_for = update::next_wakeup(&app, now)
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            msg = ui_rx.recv() => {
                let Some(msg) = msg else { break };
                apply(&mut app, msg, &cmd_tx, &mut clip);
                drain(&mut app, &mut ui_rx, &cmd_tx, &mut clip);
            }
            Some(done) = clip_rx.recv() => {
                // Between frames: a fallback OSC 52 cannot land inside one.
                let outcome = clip.finish(done, &mut io::stdout());
                apply(&mut app, Msg::Clipboard(outcome), &cmd_tx, &mut clip);
            }
            _ = tokio::time::sleep(sleep_for) => {
                apply(&mut app, Msg::Tick(Utc::now()), &cmd_tx, &mut clip);
            }
            _ = sigterm.recv() => break,
        }
        if app.mouse != mouse_on {
            mouse_on = app.mouse;
            if mouse_on {
                execute!(io::stdout(), EnableMouseCapture)?;
            } else {
                execute!(io::stdout(), DisableMouseCapture)?;
            }
        }
        if app.theme != theme_loaded {
            match load_theme(&app.theme) {
                Ok(t) => theme = t,
                Err(e) => tracing::warn!(error = %e, "theme"),
            }
            theme_loaded = app.theme.clone();
            app.generation += 1;
        }
    }
    // Signing out is journaled too; a dead gateway must not hold the exit.
    let _ = cmd_tx.send(Command::Quit);
    drop(cmd_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), net_task).await;
    input_task.abort();
    Ok(())
}

/// Applies what is queued, for at most [`DRAIN_MAX`].
fn drain(
    app: &mut App,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    commands: &mpsc::UnboundedSender<Command>,
    clip: &mut Clipboard,
) {
    let started = Instant::now();
    while started.elapsed() < DRAIN_MAX {
        match rx.try_recv() {
            Ok(msg) => apply(app, msg, commands, clip),
            Err(_) => break,
        }
    }
}

fn apply(app: &mut App, msg: Msg, commands: &mpsc::UnboundedSender<Command>, clip: &mut Clipboard) {
    if !matches!(msg, Msg::Tick(_)) {
        app.local_now = Utc::now();
    }
    for effect in update::update(app, msg) {
        match effect {
            Effect::Record {
                action,
                target,
                detail,
            } => {
                let _ = commands.send(Command::Record {
                    action,
                    target,
                    detail,
                });
            }
            Effect::Copy(job) => {
                let _ = commands.send(Command::Copy(job));
            }
            Effect::WriteClipboard(job) => {
                // Between frames: OSC 52 cannot land inside a frame. The
                // system clipboard answers later, from its own thread.
                if let Some(outcome) = clip.write(job, &mut io::stdout()) {
                    apply(app, Msg::Clipboard(outcome), commands, clip);
                }
            }
            Effect::Send { op_id, op } => {
                let _ = commands.send(Command::Send { op_id, op });
            }
            Effect::Refresh => {
                let _ = commands.send(Command::Refresh);
            }
            Effect::VerifyChain => {
                let _ = commands.send(Command::VerifyChain);
            }
            Effect::Export { filter } => {
                let _ = commands.send(Command::Export { filter });
            }
            Effect::Bell => {
                let mut out = io::stdout();
                let _ = out.write_all(b"\x07");
                let _ = out.flush();
            }
            Effect::Quit => app.quit = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::settings;
    use crate::console::logs::MIN_CAPACITY;

    /// The Logs pane's buffer size with `text` as config.toml, read the
    /// way `breakglass` reads it before starting the console.
    fn log_buffer_lines_from(text: &str) -> Result<usize, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(settings::config_path(dir.path()), text).unwrap();
        settings::load_stored(dir.path())
            .map(|stored| LogsState::new(log_buffer_lines(stored.log_buffer_lines)).capacity())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_log_buffer_size_comes_from_config_toml_within_bounds() {
        assert_eq!(log_buffer_lines_from(""), Ok(DEFAULT_CAPACITY));
        assert_eq!(
            log_buffer_lines_from("gateway = \"ws://gw/v1/ws\"\nlog_buffer_lines = 50000\n"),
            Ok(50_000)
        );
        assert_eq!(
            log_buffer_lines_from("log_buffer_lines = 10"),
            Ok(MIN_CAPACITY)
        );
        assert!(log_buffer_lines_from("log_buffer_lines = \"lots\"").is_err());
    }
}
