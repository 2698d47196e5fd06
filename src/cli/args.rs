//! The command line, as clap sees it. Parsing only; `cli::run` dispatches.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "breakglass",
    version,
    about = "Just-in-time access to production logs and metrics, with an audit trail",
    long_about = "Just-in-time access to production logs and metrics, with an audit trail.\n\nWithout a command, opens the console against the configured gateway."
)]
pub struct Cli {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the console (no command, and `demo`).
#[derive(Debug, Args, Clone, Default)]
pub struct ConsoleArgs {
    /// Colour theme: dark, light, high-contrast, or a path to a .toml theme
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Watch only: approve, deny and revoke are disabled
    #[arg(long, global = true)]
    pub read_only: bool,
    /// No terminal bell when a request arrives in the queue
    #[arg(long, global = true)]
    pub no_bell: bool,
}

/// How client commands find their gateway (flags, then environment, then
/// what `login` stored).
#[derive(Debug, Args, Clone, Default)]
pub struct ClientArgs {
    /// Gateway URL (ws://HOST:PORT/v1/ws); default from BREAKGLASS_GATEWAY or `login`
    #[arg(long, global = true, value_name = "URL")]
    pub gateway: Option<String>,
    /// File holding the bearer token; default from BREAKGLASS_TOKEN or `login`
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Print one JSON document (one per line when streaming) instead of text
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Dev gateway, simulated colleagues and the console, all in one: nothing to set up
    Demo {
        /// Whom to play: alice (on-call engineer), erin, bob or dave (approvers), carol (lead)
        #[arg(long = "as", value_name = "USER", default_value = "alice")]
        identity: String,
        /// Keep the demo's store here (default: a new temporary directory)
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run the gateway server
    Gateway(GatewayArgs),
    /// Store a gateway URL and token for later commands
    Login {
        /// Gateway URL (host:port, http://…, or ws://…/v1/ws)
        url: Option<String>,
    },
    /// Ask for access to a service
    Request(RequestArgs),
    /// List requests you can see
    Requests {
        /// Only pending ones
        #[arg(long)]
        pending: bool,
        /// Only your own
        #[arg(long)]
        mine: bool,
    },
    /// Approve a pending request
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a pending request
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw your pending request
    Cancel { id: String },
    /// List grants you can see (active ones unless --all)
    Grants {
        #[arg(long)]
        all: bool,
    },
    /// End a grant now
    Revoke {
        grant: String,
        #[arg(long)]
        reason: String,
    },
    /// Check and export audit trails
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a service's logs (redacted by the gateway); needs a logs:read grant
    Logs(LogsArgs),
    /// Print a service's charts (latest, min, max, a sparkline); needs a metrics:read grant
    Metrics {
        /// Service whose metrics to read
        service: String,
        /// How far back, e.g. 15m, 1h
        #[arg(long, value_name = "DURATION", default_value = "15m")]
        range: String,
        /// Only this chart (as the gateway config names it)
        #[arg(long, value_name = "NAME")]
        metric: Option<String>,
    },
    /// Redact stdin to stdout with exactly the gateway's redactor
    Redact {
        /// Gateway config file whose service settings to use
        #[arg(long, value_name = "FILE", requires = "service")]
        config: Option<PathBuf>,
        /// Service whose `[services.NAME.redact]` settings apply
        #[arg(long, value_name = "NAME", requires = "config")]
        service: Option<String>,
    },
    /// Ask for more time on a grant
    Extend {
        grant: String,
        /// Additional time, e.g. 15m
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Service whose logs to read
    pub service: String,
    /// Keep printing new lines until the grant ends (or Ctrl-C)
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only lines matching this regex (matched at the gateway, on redacted text; audited)
    #[arg(long, value_name = "RE")]
    pub grep: Option<String>,
    /// Start this far back, e.g. 10m (default 10m; 0 with --follow for new lines only)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Service to access
    pub service: String,
    /// Capability, repeatable: logs:read, metrics:read
    #[arg(long = "cap", value_name = "CAP", required = true)]
    pub caps: Vec<String>,
    /// How long, e.g. 30m, 1h30m
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: String,
    /// Why you need it (shown to approvers, kept in the audit trail)
    #[arg(long)]
    pub reason: String,
    /// Incident or ticket id
    #[arg(long)]
    pub ticket: Option<String>,
    /// Emergency self-grant where policy allows it (alerts every lead)
    #[arg(long)]
    pub break_glass: bool,
    /// Wait until the request is decided and print the grant
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    /// Config file (the [gateway] table and the policy)
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Development mode: demo policy and identities, temporary store, prints tokens
    #[arg(long, conflicts_with = "config")]
    pub dev: bool,
    /// Listen address (dev default 127.0.0.1:7443; port 0 picks a free one)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory (dev default: a new temporary directory)
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Allow a non-loopback listen address without TLS (behind a TLS proxy)
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Manage bearer tokens
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token for a user (printed once, stored only as a hash)
    Create {
        #[arg(long)]
        user: String,
        /// Lifetime, e.g. 90d (default: no expiry)
        #[arg(long)]
        ttl: Option<String>,
        /// A note to recognise the token by
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke a token by its id (the part after `bgt_`, before the second `_`)
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a chain: a local journal (file or directory), an export, your
    /// journals (no PATH), or the gateway's chain with its signed
    /// checkpoints (--remote); exit 0 only when intact
    Verify {
        path: Option<PathBuf>,
        /// Verify the gateway's chain (needs a lead's token)
        #[arg(long, conflicts_with = "path")]
        remote: bool,
    },
    /// Export the gateway's trail for a post-mortem (leads)
    Export {
        /// Only what concerns this ticket (requests filed with it, their grants, what was done with them)
        #[arg(long)]
        ticket: Option<String>,
        /// From this time: RFC 3339, or a duration ago like 2h
        #[arg(long)]
        since: Option<String>,
        /// Until this time: RFC 3339, or a duration ago
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value = "md")]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
    Md,
}
