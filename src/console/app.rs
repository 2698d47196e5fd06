//! The console's state and the messages that change it.
//!
//! Everything the screen shows is derived from [`App`]; everything that
//! happens (a key, a pushed event, a reply, a tick) arrives as a [`Msg`];
//! `update` turns one into a new state plus [`Effect`]s for the I/O tasks.
//! This module holds data only: no terminal, no sockets, no clock.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui_textarea::TextArea;

use super::logs::LogsState;
use super::metrics::MetricsState;
use crate::protocol::{
    AccessRequest, AuditEntry, Capability, CatalogService, ErrorBody, Event, Grant, GrantState, Op,
    RequestState, Session, UserInfo,
};

/// Most audit entries kept for the Audit pane.
pub const AUDIT_KEEP: usize = 2000;
/// Most alerts kept.
pub const ALERTS_KEEP: usize = 50;
/// How long a status message stays in the footer.
pub const FLASH_SECS: i64 = 6;

/// The six tabs, in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Grants,
    Queue,
    Sessions,
    Logs,
    Metrics,
    Audit,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Grants,
        Tab::Queue,
        Tab::Sessions,
        Tab::Logs,
        Tab::Metrics,
        Tab::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Grants => "Grants",
            Tab::Queue => "Queue",
            Tab::Sessions => "Sessions",
            Tab::Logs => "Logs",
            Tab::Metrics => "Metrics",
            Tab::Audit => "Audit",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).expect("in ALL")
    }
}

/// The link to the gateway, as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting {
        attempt: u32,
    },
    Connected {
        rtt_ms: Option<u64>,
    },
    /// Lost or refused; `retry_at` is local time of the next attempt.
    Down {
        reason: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// How bad a footer message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// A message in the footer, gone after [`FLASH_SECS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub level: Level,
    pub until: DateTime<Utc>,
}

/// A destructive action waiting for its confirming key.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Approve {
        request_id: String,
        comment: Option<String>,
    },
    Deny {
        request_id: String,
        reason: String,
    },
    Revoke {
        grant_id: String,
        reason: String,
    },
    /// Self-granting in an emergency: the request to send once confirmed.
    BreakGlass {
        op: Op,
    },
    Quit,
}

/// What a one-line prompt is collecting.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptFor {
    ApproveComment {
        request_id: String,
    },
    DenyReason {
        request_id: String,
    },
    RevokeReason {
        grant_id: String,
    },
    ExtendFor {
        grant_id: String,
    },
    ExtendReason {
        grant_id: String,
        duration_s: u64,
    },
    AuditFilter,
    /// `/` in the Logs pane.
    LogSearch,
}

/// A one-line text prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub purpose: PromptFor,
    pub label: String,
    pub text: String,
    pub error: Option<String>,
}

/// Fields of the new-request form, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    Service,
    Capabilities,
    Duration,
    Reason,
    Ticket,
    BreakGlass,
}

impl FormField {
    pub const ORDER: [FormField; 6] = [
        FormField::Service,
        FormField::Capabilities,
        FormField::Duration,
        FormField::Reason,
        FormField::Ticket,
        FormField::BreakGlass,
    ];
}

/// The new-request form (`n`).
#[derive(Debug, Clone)]
pub struct RequestForm {
    /// Index into the catalog.
    pub service: usize,
    /// Capabilities of the chosen service, each ticked or not.
    pub caps: Vec<(Capability, bool)>,
    /// Cursor within `caps`.
    pub cap_cursor: usize,
    pub duration: String,
    pub reason: TextArea<'static>,
    pub ticket: String,
    pub break_glass: bool,
    pub focus: FormField,
    /// Inline validation messages by field.
    pub errors: BTreeMap<&'static str, String>,
    /// The tab to show once sent (the Grants pane when none).
    pub return_to: Option<Tab>,
}

/// The `:` command palette.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Palette {
    pub input: String,
    pub selected: usize,
}

/// What covers the panes, if anything. Keys go to the topmost.
#[derive(Debug, Clone)]
pub enum Overlay {
    Help,
    Palette(Palette),
    Form(Box<RequestForm>),
    Prompt(Prompt),
    Confirm(Confirm),
    /// The Logs pane's stream chooser (`s`), with its cursor.
    Streams(usize),
    /// The Metrics pane's service chooser (`s`), with its cursor.
    ChartServices(usize),
}

/// An alert pushed by the gateway (leads), newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: String,
    pub message: String,
    pub subject: String,
    pub at: DateTime<Utc>,
}

/// Everything fetched after (re)connecting.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub catalog: Vec<CatalogService>,
    pub requests: Vec<AccessRequest>,
    pub grants: Vec<Grant>,
    pub sessions: Vec<Session>,
    pub audit: Vec<AuditEntry>,
}

/// Messages from the I/O tasks.
#[derive(Debug, Clone)]
pub enum NetMsg {
    Connecting {
        attempt: u32,
    },
    /// `clock_offset` is server minus local time at `hello`.
    Connected {
        user: UserInfo,
        clock_offset: chrono::Duration,
    },
    Down {
        reason: String,
        retry_at: Option<DateTime<Utc>>,
    },
    Snapshot(Box<Snapshot>),
    Event(Box<Event>),
    /// The reply to an op the console sent: Ok carries the reply's fields.
    Reply {
        op_id: String,
        result: Result<serde_json::Map<String, serde_json::Value>, ErrorBody>,
    },
    Rtt(u64),
    /// The local journal's state after an append or a delivery.
    Journal(JournalStatus),
    /// The outcome of checking the gateway's chain (and of an export).
    Verdict {
        intact: bool,
        summary: String,
        exported: Option<String>,
    },
    /// A copy is in the journal: it may now reach the clipboard.
    CopyJournaled(Box<CopyJob>),
    /// The journal could not hold a copy: nothing was copied.
    CopyRefused {
        error: String,
    },
}

/// How text reaches the clipboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipVia {
    /// The system clipboard (arboard), falling back to OSC 52.
    System,
    /// OSC 52 written to the terminal (over SSH, or with no display),
    /// wrapped for tmux when `tmux` is set.
    Osc52 { tmux: bool },
}

impl ClipVia {
    pub fn name(self) -> &'static str {
        match self {
            ClipVia::System => "clipboard",
            ClipVia::Osc52 { .. } => "osc52",
        }
    }
}

/// Log lines on their way to the clipboard. The journal gets what and
/// how much ([`CopyJob::audit_detail`]), never the text.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyJob {
    pub text: String,
    /// The service(s) the lines come from, comma-separated.
    pub target: String,
    pub lines: usize,
    /// `line` (`y`) or `visible` (`Y`).
    pub what: &'static str,
    pub via: ClipVia,
}

impl CopyJob {
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// The journal entry's detail: services, line and byte counts, how.
    pub fn audit_detail(&self) -> serde_json::Value {
        serde_json::json!({
            "services": self.target.split(',').collect::<Vec<_>>(),
            "lines": self.lines,
            "bytes": self.bytes(),
            "what": self.what,
            "via": self.via.name(),
        })
    }
}

/// The journal action of a copy.
pub const COPY_ACTION: &str = "clipboard.copy";

/// What became of a clipboard write.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipOutcome {
    pub lines: usize,
    pub bytes: usize,
    /// How it went (`clipboard`, `osc52`), or why it failed.
    pub result: Result<&'static str, String>,
}

/// What the Audit pane says about this console's own journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalStatus {
    /// Entries in the journal (its head seq).
    pub entries: u64,
    /// Entries not yet acknowledged by the gateway.
    pub queued: u64,
    /// Set when the journal cannot be written: actions are refused.
    pub error: Option<String>,
}

/// Everything `update` reacts to.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Local wall clock now (countdowns and flashes age with it).
    Tick(DateTime<Utc>),
    Net(NetMsg),
    /// The runtime wrote (or failed to write) the clipboard.
    Clipboard(ClipOutcome),
}

/// What `update` asks the I/O side to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send an op; its reply comes back as `NetMsg::Reply` with this id.
    Send {
        op_id: String,
        op: Op,
    },
    /// Ring the terminal bell.
    Bell,
    /// Re-fetch the snapshot (after a decision or on `R`).
    Refresh,
    /// Check the gateway's chain with its signed checkpoints.
    VerifyChain,
    /// Export the trail entries matching `filter` as Markdown.
    Export {
        filter: String,
    },
    /// Journal a user action that is not an op (a log search, a filter).
    Record {
        action: String,
        target: String,
        detail: serde_json::Value,
    },
    /// Journal a copy; once journaled (`NetMsg::CopyJournaled`) it is
    /// written with [`Effect::WriteClipboard`].
    Copy(Box<CopyJob>),
    /// Put journaled text on the clipboard.
    WriteClipboard(Box<CopyJob>),
    Quit,
}

/// An op in flight, so that its reply can be reported sensibly.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub what: String,
}

/// One row of the Grants pane: my running grants first, then my requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GrantsRow<'a> {
    Grant(&'a Grant),
    Request(&'a AccessRequest),
}

/// The console's whole state.
#[derive(Debug, Clone)]
pub struct App {
    pub gateway: String,
    pub me: Option<UserInfo>,
    pub link: Link,
    /// Server minus local time; every countdown uses server time.
    pub clock_offset: chrono::Duration,
    /// Local time at the last tick or message.
    pub local_now: DateTime<Utc>,
    pub tab: Tab,
    /// Set once the first `hello` chose the tab that fits the role.
    pub tab_chosen: bool,
    pub catalog: Vec<CatalogService>,
    /// `n` was pressed before the catalog arrived: open the form when it does.
    pub form_wanted: bool,
    pub requests: BTreeMap<String, AccessRequest>,
    pub grants: BTreeMap<String, Grant>,
    pub sessions: Vec<Session>,
    pub audit: VecDeque<AuditEntry>,
    pub alerts: VecDeque<Alert>,
    /// Selected row per pane.
    pub selected: BTreeMap<&'static str, usize>,
    pub overlay: Option<Overlay>,
    pub flash: Option<Flash>,
    pub in_flight: BTreeMap<String, InFlight>,
    pub audit_filter: String,
    pub read_only: bool,
    pub bell: bool,
    pub theme: String,
    /// Theme names the palette offers.
    pub themes: Vec<String>,
    /// Terminal size, for mouse hit-testing.
    pub size: (u16, u16),
    /// Mouse capture on (off lets the terminal select text).
    pub mouse: bool,
    pub quit: bool,
    /// This console's local audit journal, once open.
    pub journal: Option<JournalStatus>,
    /// The last check of the gateway's chain: (intact, summary).
    pub chain: Option<(bool, String)>,
    /// The Logs pane: buffer, streams, view, search.
    pub logs: LogsState,
    /// The Metrics pane: service, range, the last answer, the refreshes.
    pub metrics: MetricsState,
    /// How copies reach the clipboard (the runtime decides at start).
    pub clipboard: ClipVia,
    /// Bumped by every change that needs a redraw.
    pub generation: u64,
}

impl App {
    pub fn new(gateway: impl Into<String>, now: DateTime<Utc>) -> App {
        App {
            gateway: gateway.into(),
            me: None,
            link: Link::Connecting { attempt: 0 },
            clock_offset: chrono::Duration::zero(),
            local_now: now,
            tab: Tab::Grants,
            tab_chosen: false,
            catalog: Vec::new(),
            form_wanted: false,
            requests: BTreeMap::new(),
            grants: BTreeMap::new(),
            sessions: Vec::new(),
            audit: VecDeque::new(),
            alerts: VecDeque::new(),
            selected: BTreeMap::new(),
            overlay: None,
            flash: None,
            in_flight: BTreeMap::new(),
            audit_filter: String::new(),
            read_only: false,
            bell: true,
            theme: "dark".into(),
            themes: vec!["dark".into(), "light".into(), "high-contrast".into()],
            size: (80, 24),
            mouse: true,
            quit: false,
            journal: None,
            chain: None,
            logs: LogsState::default(),
            metrics: MetricsState::default(),
            clipboard: ClipVia::System,
            generation: 0,
        }
    }

    /// The gateway's clock now.
    pub fn server_now(&self) -> DateTime<Utc> {
        self.local_now + self.clock_offset
    }

    pub fn user_name(&self) -> &str {
        self.me.as_ref().map(|u| u.name.as_str()).unwrap_or("")
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.me.as_ref().is_some_and(|u| u.has_role(role))
    }

    pub fn connected(&self) -> bool {
        matches!(self.link, Link::Connected { .. })
    }

    /// My requests, newest first.
    pub fn my_requests(&self) -> Vec<&AccessRequest> {
        let me = self.user_name();
        let mut out: Vec<_> = self
            .requests
            .values()
            .filter(|r| r.requester == me)
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    /// My grants still running, soonest to expire first.
    pub fn my_active_grants(&self) -> Vec<&Grant> {
        let me = self.user_name();
        let now = self.server_now();
        let mut out: Vec<_> = self
            .grants
            .values()
            .filter(|g| g.user == me && g.state == GrantState::Active && now < g.expires_at)
            .collect();
        out.sort_by_key(|g| g.expires_at);
        out
    }

    /// My running grants that cover `cap`, one per service, the most
    /// recently granted first (the Logs and Metrics panes open on the
    /// first).
    pub fn my_grants_covering(&self, cap: Capability) -> Vec<&Grant> {
        let mut gs: Vec<&Grant> = self
            .my_active_grants()
            .into_iter()
            .filter(|g| g.capabilities.contains(&cap))
            .collect();
        gs.sort_by(|a, b| {
            b.starts_at
                .cmp(&a.starts_at)
                .then_with(|| a.service.cmp(&b.service))
        });
        let mut seen: Vec<&str> = Vec::new();
        gs.retain(|g| {
            let new = !seen.contains(&g.service.as_str());
            seen.push(&g.service);
            new
        });
        gs
    }

    /// Whether a running grant of mine covers `cap` on `service`.
    pub fn my_grant_covers(&self, service: &str, cap: Capability) -> bool {
        self.my_active_grants()
            .iter()
            .any(|g| g.service == service && g.capabilities.contains(&cap))
    }

    /// The Grants pane's rows: running grants, then my requests that are
    /// pending or ended without a grant still running.
    pub fn grants_rows(&self) -> Vec<GrantsRow<'_>> {
        let grants = self.my_active_grants();
        let mut rows: Vec<GrantsRow<'_>> = grants.iter().map(|g| GrantsRow::Grant(g)).collect();
        rows.extend(
            self.my_requests()
                .into_iter()
                .filter(|r| {
                    r.grant_id
                        .as_ref()
                        .is_none_or(|gid| !grants.iter().any(|g| &g.id == gid))
                })
                .take(50)
                .map(GrantsRow::Request),
        );
        rows
    }

    /// Pending requests I may decide, newest first (the queue).
    pub fn queue(&self) -> Vec<&AccessRequest> {
        let me = self.user_name();
        let now = self.server_now();
        let mut out: Vec<_> = self
            .requests
            .values()
            .filter(|r| {
                r.state == RequestState::Pending
                    && now < r.pending_until
                    && r.requester != me
                    && !r.approvals.iter().any(|a| a.by == me)
            })
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    /// Every active grant (leads), soonest to expire first, with what the
    /// holder did last (from sessions and the live audit feed).
    pub fn active_sessions(&self) -> Vec<(&Grant, Vec<&AuditEntry>)> {
        let now = self.server_now();
        let mut grants: Vec<_> = self
            .grants
            .values()
            .filter(|g| g.state == GrantState::Active && now < g.expires_at)
            .collect();
        grants.sort_by_key(|g| g.expires_at);
        grants
            .into_iter()
            .map(|g| {
                let actions: Vec<&AuditEntry> = self
                    .audit
                    .iter()
                    .filter(|e| e.actor == g.user && e.at >= g.starts_at)
                    .take(3)
                    .collect();
                (g, actions)
            })
            .collect()
    }

    /// Audit entries matching the filter, newest first.
    pub fn audit_view(&self) -> Vec<&AuditEntry> {
        let f = self.audit_filter.to_lowercase();
        self.audit
            .iter()
            .filter(|e| {
                f.is_empty()
                    || e.actor.to_lowercase().contains(&f)
                    || e.action.to_lowercase().contains(&f)
                    || e.target.to_lowercase().contains(&f)
                    || e.detail.to_string().to_lowercase().contains(&f)
            })
            .collect()
    }

    /// Whether something on screen counts down (then the clock ticks redraw).
    pub fn countdown_visible(&self) -> bool {
        match self.tab {
            Tab::Grants => !self.my_active_grants().is_empty() || !self.my_requests().is_empty(),
            Tab::Queue => !self.queue().is_empty(),
            Tab::Sessions => !self.active_sessions().is_empty(),
            _ => !self.my_active_grants().is_empty(),
        }
    }

    pub fn selected(&self, pane: &'static str) -> usize {
        self.selected.get(pane).copied().unwrap_or(0)
    }
}
