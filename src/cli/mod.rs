//! The scripting CLI: each client command is one connection, one or a few
//! ops, a printout (text, or JSON with `--json`) and an exit code:
//! 0 success, 1 failure, 2 usage, 3 forbidden or denied, 4 not found,
//! 5 gateway unreachable. Errors go to stderr and say what to do.

pub mod args;
mod audit_cmd;
mod gateway_cmd;
mod logs_cmd;
mod metrics_cmd;
mod output;
mod redact_cmd;
mod session;

use std::io::IsTerminal;

use serde_json::json;

use self::args::{Cli, ClientArgs, Command, ConsoleArgs, RequestArgs};
use self::session::Session;
use crate::client::recorder::{self, Recorder};
use crate::client::settings::{self, SettingsError, Target};
use crate::client::{ClientError, Connection};
use crate::console::runtime::ConsoleOptions;
use crate::duration::parse_duration;
use crate::protocol::{AccessRequest, Capability, ErrorCode, Event, Grant, Op, RequestState};

/// A failed command: what to print and which exit code to use.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_FORBIDDEN: i32 = 3;
pub const EXIT_NOT_FOUND: i32 = 4;
pub const EXIT_UNREACHABLE: i32 = 5;

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(EXIT_USAGE, message)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Unreachable { .. }
            | ClientError::Disconnected
            | ClientError::Timeout(_) => EXIT_UNREACHABLE,
            ClientError::Unauthorized(_) => EXIT_FORBIDDEN,
            ClientError::Refused(body) => match body.code {
                ErrorCode::BadRequest => EXIT_USAGE,
                ErrorCode::Unauthorized | ErrorCode::Forbidden => EXIT_FORBIDDEN,
                ErrorCode::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_FAILURE,
            },
            ClientError::Protocol(_) => EXIT_FAILURE,
        };
        CliError::new(code, e.to_string())
    }
}

impl From<SettingsError> for CliError {
    fn from(e: SettingsError) -> Self {
        let code = match e {
            SettingsError::NoGateway | SettingsError::NoToken => EXIT_USAGE,
            _ => EXIT_FAILURE,
        };
        CliError::new(code, e.to_string())
    }
}

pub type CliResult = Result<(), CliError>;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    let client = cli.client;
    let Some(command) = cli.command else {
        return console(&client, &cli.console).await;
    };
    match command {
        Command::Demo { identity, data_dir } => demo(&cli.console, &identity, data_dir).await,
        Command::Gateway(args) => gateway_cmd::run(args, client.json).await,
        Command::Login { url } => login(&client, url).await,
        Command::Request(args) => request(&client, args).await,
        Command::Requests { pending, mine } => {
            let s = Session::open(&client).await?;
            let state = pending.then_some(RequestState::Pending);
            let mut reply = s.read(Op::RequestList { state, mine }).await?;
            let requests: Vec<AccessRequest> = reply.take("requests").map_err(protocol)?;
            print(&client, &json!({ "requests": requests }), || {
                output::requests_table(&requests, s.conn.server_now())
            });
            Ok(())
        }
        Command::Approve { id, comment } => {
            let op = Op::RequestApprove {
                request_id: id,
                comment,
                totp: None,
            };
            decide(&client, op).await
        }
        Command::Deny { id, reason } => {
            decide(
                &client,
                Op::RequestDeny {
                    request_id: id,
                    reason,
                },
            )
            .await
        }
        Command::Cancel { id } => decide(&client, Op::RequestCancel { request_id: id }).await,
        Command::Grants { all } => {
            let s = Session::open(&client).await?;
            let mut reply = s.read(Op::GrantList { active_only: !all }).await?;
            let grants: Vec<Grant> = reply.take("grants").map_err(protocol)?;
            print(&client, &json!({ "grants": grants }), || {
                output::grants_table(&grants, s.conn.server_now())
            });
            Ok(())
        }
        Command::Audit(cmd) => audit_cmd::run(&client, cmd).await,
        Command::Logs(args) => logs_cmd::run(&client, args).await,
        Command::Metrics {
            service,
            range,
            metric,
        } => metrics_cmd::run(&client, &service, &range, metric).await,
        Command::Redact { config, service } => {
            redact_cmd::run(config.as_deref(), service.as_deref())
        }
        Command::Revoke { grant, reason } => {
            let mut s = Session::open(&client).await?;
            let mut reply = s
                .act(Op::GrantRevoke {
                    grant_id: grant,
                    reason,
                })
                .await?;
            let grant: Grant = reply.take("grant").map_err(protocol)?;
            print(&client, &json!({ "grant": grant }), || {
                format!(
                    "revoked {} ({} on {})\n",
                    grant.id, grant.user, grant.service
                )
            });
            Ok(())
        }
        Command::Extend {
            grant,
            duration,
            reason,
        } => {
            let duration_s = parse_secs(&duration)?;
            decide(
                &client,
                Op::GrantExtend {
                    grant_id: grant,
                    duration_s,
                    reason,
                },
            )
            .await
        }
    }
}

/// Whether the command draws a full-screen console (its logs then go to a
/// file, never to the terminal).
pub fn is_console(cli: &Cli) -> bool {
    matches!(cli.command, None | Some(Command::Demo { .. }))
}

fn console_options(
    args: &ConsoleArgs,
    url: String,
    token: String,
) -> Result<ConsoleOptions, CliError> {
    if !std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "the console needs a terminal; for scripts use the commands (`breakglass --help`)",
        ));
    }
    // One read of config.toml for everything the console takes from it; a
    // broken file goes to the log, as the console's other warnings do.
    let stored = match settings::config_dir().map(|d| settings::load_stored(&d)) {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "config.toml unreadable; its settings ignored");
            settings::StoredConfig::default()
        }
        Err(_) => settings::StoredConfig::default(),
    };
    Ok(ConsoleOptions {
        url,
        token,
        theme: args
            .theme
            .clone()
            .or(stored.theme)
            .unwrap_or_else(|| "dark".into()),
        read_only: args.read_only,
        bell: !args.no_bell && stored.bell.unwrap_or(true),
        journal_base: recorder::data_dir(),
        log_buffer_lines: stored.log_buffer_lines,
    })
}

async fn console(client: &ClientArgs, args: &ConsoleArgs) -> CliResult {
    let Target { url, token } =
        settings::resolve(client.gateway.as_deref(), client.token_file.as_deref())?;
    let opts = console_options(args, url, token)?;
    crate::console::runtime::run(opts)
        .await
        .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))
}

async fn demo(
    args: &ConsoleArgs,
    identity: &str,
    data_dir: Option<std::path::PathBuf>,
) -> CliResult {
    let dir = match data_dir {
        Some(d) => d,
        None => {
            gateway_cmd::new_temp_dir().map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?
        }
    };
    let demo = crate::demo::start(identity, dir)
        .await
        .map_err(|e| CliError::new(EXIT_USAGE, e.to_string()))?;
    let token = demo.tokens[identity].clone();
    let mut opts = console_options(args, demo.url(), token)?;
    // The demo's journals live and die with its data dir.
    opts.journal_base = demo.data_dir.clone();
    let outcome = crate::console::runtime::run(opts).await;
    demo.stop().await;
    outcome.map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))
}

fn protocol(e: String) -> CliError {
    CliError::new(EXIT_FAILURE, format!("protocol error: {e}"))
}

fn parse_secs(text: &str) -> Result<u64, CliError> {
    parse_duration(text)
        .map(|d| d.as_secs())
        .map_err(|e| CliError::usage(format!("--for {text}: {e}")))
}

/// Prints `value` as JSON with `--json`, else the text `human` makes.
fn print(client: &ClientArgs, value: &serde_json::Value, human: impl FnOnce() -> String) {
    if client.json {
        println!("{value}");
    } else {
        print!("{}", human());
    }
}

/// Ops whose reply is one request (approve, deny, cancel, extend).
async fn decide(client: &ClientArgs, op: Op) -> CliResult {
    let mut s = Session::open(client).await?;
    let mut reply = s.act(op).await?;
    let request: AccessRequest = reply.take("request").map_err(protocol)?;
    print(client, &json!({ "request": request }), || {
        output::request_line(&request)
    });
    Ok(())
}

async fn login(client: &ClientArgs, url: Option<String>) -> CliResult {
    let url = url
        .or_else(|| client.gateway.clone())
        .or_else(|| std::env::var(settings::ENV_GATEWAY).ok())
        .ok_or_else(|| {
            CliError::usage("give the gateway URL: `breakglass login ws://HOST:PORT`")
        })?;
    let url = settings::normalise_url(&url);
    let token = if let Some(f) = &client.token_file {
        std::fs::read_to_string(f)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", f.display())))?
    } else if let Ok(t) = std::env::var(settings::ENV_TOKEN) {
        t
    } else {
        if std::io::stdin().is_terminal() {
            eprint!("token for {url}: ");
        }
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::usage(format!("cannot read the token from stdin: {e}")))?;
        line
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(CliError::usage("empty token"));
    }
    let conn = Connection::connect(&url, &token).await?;
    let dir = settings::config_dir()?;
    settings::store_login(&dir, &url, &token)?;
    let user = conn.user.clone();
    // Signing in is a user action: journaled, then delivered.
    let jdir = recorder::journal_dir(&recorder::data_dir(), &user.name, &url);
    let mut rec = Recorder::open(&jdir, &user.name, &recorder::origin("cli"))
        .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    rec.record("session.login", &url, json!({}))
        .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    if let Err(e) = rec.deliver(&conn).await {
        eprintln!("warning: local audit entries not yet delivered (kept for next time): {e}");
    }
    conn.close().await;
    print(client, &json!({ "gateway": url, "user": user }), || {
        format!(
            "logged in to {url} as {} ({}); token kept in {}\n",
            user.name,
            user.roles.join(", "),
            settings::token_path(&dir).display()
        )
    });
    Ok(())
}

async fn request(client: &ClientArgs, args: RequestArgs) -> CliResult {
    let capabilities = args
        .caps
        .iter()
        .flat_map(|c| c.split(','))
        .map(|c| {
            Capability::parse(c.trim()).ok_or_else(|| {
                CliError::usage(format!(
                    "unknown capability `{c}`; use logs:read or metrics:read"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let duration_s = parse_secs(&args.duration)?;
    let mut s = Session::open(client).await?;
    let mut reply = s
        .act(Op::RequestCreate {
            service: args.service,
            capabilities,
            duration_s,
            reason: args.reason,
            ticket: args.ticket,
            break_glass: args.break_glass,
        })
        .await?;
    let mut request: AccessRequest = reply.take("request").map_err(protocol)?;
    if args.wait && request.state == RequestState::Pending {
        if !client.json {
            eprintln!(
                "{} is pending ({}/{} approvals); waiting for a decision…",
                request.id,
                request.approvals.len(),
                request.approvals_required
            );
        }
        request = wait_for_decision(&s.conn, request).await?;
    }
    let grant = match &request.grant_id {
        Some(gid) => {
            let mut reply = s.read(Op::GrantList { active_only: false }).await?;
            let grants: Vec<Grant> = reply.take("grants").map_err(protocol)?;
            grants.into_iter().find(|g| &g.id == gid)
        }
        None => None,
    };
    print(
        client,
        &json!({ "request": request, "grant": grant }),
        || {
            let mut text = output::request_line(&request);
            if let Some(g) = &grant {
                text.push_str(&output::grants_table(
                    std::slice::from_ref(g),
                    s.conn.server_now(),
                ));
            }
            text
        },
    );
    match request.state {
        RequestState::Denied => Err(CliError::new(
            EXIT_FORBIDDEN,
            format!(
                "request {} was denied by {}: {}",
                request.id,
                request.denied_by.as_deref().unwrap_or("?"),
                request.deny_reason.as_deref().unwrap_or("")
            ),
        )),
        RequestState::Expired | RequestState::Cancelled if args.wait => Err(CliError::new(
            EXIT_FAILURE,
            format!(
                "request {} ended {} without a grant",
                request.id,
                request.state.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// Blocks until `request` leaves `pending`, on the gateway's pushed events.
async fn wait_for_decision(
    conn: &Connection,
    mut request: AccessRequest,
) -> Result<AccessRequest, CliError> {
    while request.state == RequestState::Pending {
        match conn.next_event().await {
            Some(frame) => {
                if let Event::RequestUpdated { request: r } = frame.event
                    && r.id == request.id
                {
                    request = r;
                }
            }
            None => {
                return Err(CliError::new(
                    EXIT_UNREACHABLE,
                    format!(
                        "lost the gateway while waiting; `breakglass requests --mine` shows what became of {}",
                        request.id
                    ),
                ));
            }
        }
    }
    Ok(request)
}
