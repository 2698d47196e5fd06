//! `breakglass logs SERVICE [--follow] [--grep RE] [--since 10m]`: a
//! service's redacted lines for scripts, one per line (or one JSON object
//! per line with `--json`).
//!
//! Without `--follow` it prints what the gateway holds for `--since` and
//! stops once the stream has been quiet for a moment (the protocol streams;
//! there is no end-of-history marker). With `--follow` it runs until the
//! grant ends (exit 3, saying why), the connection drops (exit 5) or Ctrl-C.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use super::args::{ClientArgs, LogsArgs};
use super::session::Session;
use super::{CliError, CliResult, EXIT_FAILURE, EXIT_FORBIDDEN, EXIT_UNREACHABLE, protocol};
use crate::duration::parse_duration;
use crate::protocol::{CloseReason, Event, LogFilter, LogLine, Op};

/// Default `--since`.
const DEFAULT_SINCE_S: u64 = 600;
/// Without `--follow`: stop after the stream is quiet this long…
const QUIET_AFTER_LINES: Duration = Duration::from_millis(500);
/// …or this long when nothing came at all.
const QUIET_WITHOUT_LINES: Duration = Duration::from_secs(2);

pub async fn run(client: &ClientArgs, args: LogsArgs) -> CliResult {
    let since_s = match &args.since {
        Some(text) => parse_duration(text)
            .map(|d| d.as_secs())
            .map_err(|e| CliError::usage(format!("--since {text}: {e}")))?,
        None => DEFAULT_SINCE_S,
    };
    let filter = args.grep.as_ref().map(|re| LogFilter {
        pattern: re.clone(),
        regex: true,
    });
    let mut session = Session::open(client).await?;
    let mut reply = session
        .act(Op::LogsSubscribe {
            service: args.service.clone(),
            filter,
            since_s: Some(since_s),
        })
        .await?;
    let sub_id: String = reply.take("sub_id").map_err(protocol)?;
    let mut out = std::io::stdout().lock();
    let mut printed = 0u64;
    let ended = loop {
        let wait = if args.follow {
            Duration::MAX
        } else if printed > 0 {
            QUIET_AFTER_LINES
        } else {
            QUIET_WITHOUT_LINES
        };
        let next = tokio::select! {
            e = tokio::time::timeout(wait, session.conn.next_event()) => e,
            _ = tokio::signal::ctrl_c() => break None,
        };
        let event = match next {
            Err(_) => break None,
            Ok(None) => {
                return Err(CliError::new(
                    EXIT_UNREACHABLE,
                    "the connection to the gateway was lost; run the command again",
                ));
            }
            Ok(Some(frame)) => frame.event,
        };
        match event {
            Event::LogsLines {
                sub_id: s,
                lines,
                dropped,
            } if s == sub_id => {
                if let Some(n) = dropped {
                    note_dropped(client.json, &mut out, n);
                }
                printed += lines.len() as u64;
                print_lines(client.json, &mut out, &lines)
                    .map_err(|e| CliError::new(EXIT_FAILURE, format!("stdout: {e}")))?;
            }
            Event::LogsClosed { sub_id: s, reason } if s == sub_id => break Some(reason),
            _ => {}
        }
    };
    match ended {
        None => {
            // Quiet, or Ctrl-C: end the stream politely (an audited action).
            let _ = session.act(Op::LogsUnsubscribe { sub_id }).await;
            Ok(())
        }
        Some(CloseReason::Unsubscribed) => Ok(()),
        Some(reason) => Err(closed_error(&args.service, reason)),
    }
}

fn print_lines(json: bool, out: &mut impl Write, lines: &[LogLine]) -> std::io::Result<()> {
    for line in lines {
        if json {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{}", line.text)?;
        }
    }
    out.flush()
}

fn note_dropped(json: bool, out: &mut impl Write, n: u64) {
    if json {
        let _ = writeln!(out, "{}", json!({ "dropped": n }));
    } else {
        eprintln!("breakglass: the gateway dropped {n} lines here: this reader was too slow");
    }
}

fn closed_error(service: &str, reason: CloseReason) -> CliError {
    let again = format!(
        "ask again with `breakglass request {service} --cap logs:read --for 30m --reason …`"
    );
    match reason {
        CloseReason::GrantExpired => CliError::new(
            EXIT_FORBIDDEN,
            format!("your grant on {service} expired; the gateway closed the stream; {again}"),
        ),
        CloseReason::GrantRevoked => CliError::new(
            EXIT_FORBIDDEN,
            format!("your grant on {service} was revoked; the gateway closed the stream; {again}"),
        ),
        CloseReason::SourceError | CloseReason::Unsubscribed => CliError::new(
            EXIT_FAILURE,
            format!("the gateway closed the stream of {service} ({reason:?})"),
        ),
    }
}
