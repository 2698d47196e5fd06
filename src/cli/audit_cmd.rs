//! `breakglass audit verify` and `audit export`: read a trail (a local
//! journal, an export, or the gateway's chain), check it, print the verdict
//! and the first bad entry; exit 0 only when intact.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::args::{AuditCommand, ClientArgs, ExportFormat};
use super::session::Session;
use super::{CliError, CliResult, EXIT_FAILURE, EXIT_USAGE, print};
use crate::audit::journal::{self, JournalError};
use crate::audit::link::Link;
use crate::audit::report::{self, TrailCheck, Verification};
use crate::client::audit as client_audit;
use crate::client::recorder;
use crate::duration::parse_duration;
use crate::protocol::AuditEntry;

pub async fn run(client: &ClientArgs, cmd: AuditCommand) -> CliResult {
    match cmd {
        AuditCommand::Verify {
            path: None,
            remote: true,
        } => verify_remote(client).await,
        AuditCommand::Verify { path: Some(p), .. } => {
            let v = verify_path(&p)?;
            report_verdict(client, &p.display().to_string(), &v)
        }
        AuditCommand::Verify {
            path: None,
            remote: false,
        } => verify_local(client),
        AuditCommand::Export {
            ticket,
            since,
            until,
            format,
        } => export(client, ticket, since, until, format).await,
    }
}

fn journal_err(e: JournalError) -> CliError {
    CliError::new(EXIT_FAILURE, e.to_string())
}

/// Verifies a journal directory (one chain across its files), an export
/// (`{"entries": […]}`), or a journal file (which may start mid-chain, if
/// rotated). Journals are checked as they are read, never held in memory.
fn verify_path(path: &Path) -> Result<Verification, CliError> {
    if path.is_dir() {
        let mut check = TrailCheck::new(false, &[], None, &[]);
        for f in journal::journal_files(path).map_err(journal_err)? {
            journal::scan_links(&f, |l| check.push(l)).map_err(journal_err)?;
        }
        return Ok(check.finish());
    }
    if let Some(entries) = read_export(path)? {
        return Ok(report::verify_trail(&entries, true, &[], None, &[]));
    }
    let mut check = TrailCheck::new(true, &[], None, &[]);
    journal::scan_links(path, |l| check.push(l)).map_err(journal_err)?;
    Ok(check.finish())
}

/// The entries of an export, or None when `path` is not one (a journal's
/// first line is an entry; an export's is not).
fn read_export(path: &Path) -> Result<Option<Vec<AuditEntry>>, CliError> {
    let cannot_read = |e: std::io::Error| {
        CliError::new(EXIT_USAGE, format!("cannot read {}: {e}", path.display()))
    };
    let mut head = Vec::new();
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    std::io::BufReader::new(file)
        .take(1 << 20)
        .read_until(b'\n', &mut head)
        .map_err(cannot_read)?;
    if Link::from_line(&head, &mut Vec::new()).is_ok() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(cannot_read)?;
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    let Some(entries) = doc.get("entries") else {
        return Ok(None);
    };
    serde_json::from_value(entries.clone())
        .map(Some)
        .map_err(|e| CliError::new(EXIT_FAILURE, format!("{}: {e}", path.display())))
}

fn report_verdict(client: &ClientArgs, what: &str, v: &Verification) -> CliResult {
    print(
        client,
        &json!({"trail": what, "intact": v.intact(), "entries": v.entries, "summary": v.summary()}),
        || format!("{what}: {}\n", v.summary()),
    );
    if v.intact() {
        Ok(())
    } else {
        Err(CliError::new(EXIT_FAILURE, format!("{what} is not intact")))
    }
}

/// Every journal of this machine's user.
fn local_journals() -> Vec<PathBuf> {
    let base = recorder::data_dir().join("journal");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn verify_local(client: &ClientArgs) -> CliResult {
    let dirs = local_journals();
    if dirs.is_empty() {
        return Err(CliError::new(
            EXIT_USAGE,
            format!(
                "no local journals under {}; give a PATH, or --remote",
                recorder::data_dir().join("journal").display()
            ),
        ));
    }
    let mut broken = Vec::new();
    for dir in dirs {
        let v = verify_path(&dir)?;
        if report_verdict(client, &dir.display().to_string(), &v).is_err() {
            broken.push(dir.display().to_string());
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(
            EXIT_FAILURE,
            format!("not intact: {}", broken.join(", ")),
        ))
    }
}

async fn remote_verdict(s: &Session) -> Result<(Vec<AuditEntry>, Verification), CliError> {
    Ok(client_audit::remote_verdict(&s.conn, &s.url, &recorder::data_dir()).await?)
}

async fn verify_remote(client: &ClientArgs) -> CliResult {
    let s = Session::open(client).await?;
    let (_, v) = remote_verdict(&s).await?;
    let url = s.url.clone();
    report_verdict(client, &format!("gateway {url}"), &v)
}

fn parse_when(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    parse_duration(text)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now - d)
        .ok_or_else(|| {
            CliError::usage(format!(
                "`{text}` is neither an RFC 3339 time (2026-11-24T03:00:00Z) nor a duration ago (2h)"
            ))
        })
}

async fn export(
    client: &ClientArgs,
    ticket: Option<String>,
    since: Option<String>,
    until: Option<String>,
    format: ExportFormat,
) -> CliResult {
    let mut s = Session::open(client).await?;
    let now = s.conn.server_now();
    let since = since.map(|t| parse_when(&t, now)).transpose()?;
    let until = until.map(|t| parse_when(&t, now)).transpose()?;
    let (entries, v) = remote_verdict(&s).await?;
    let picked = report::select(&entries, ticket.as_deref(), since, until);
    // Exporting the trail is itself an action on it.
    s.note(
        "audit.export",
        ticket.as_deref().unwrap_or("all"),
        json!({"entries": picked.len(), "format": format!("{format:?}").to_lowercase()}),
    )
    .await?;
    let title = match &ticket {
        Some(t) => format!("Access audit: {t}"),
        None => "Access audit".to_string(),
    };
    let out = match format {
        ExportFormat::Json => report::to_json(&v, &picked),
        ExportFormat::Csv => report::to_csv(&picked),
        ExportFormat::Md => report::to_markdown(&title, &v, &picked),
    };
    print!("{out}");
    if !out.ends_with('\n') {
        println!();
    }
    if v.intact() {
        Ok(())
    } else {
        eprintln!("warning: {}", v.summary());
        Err(CliError::new(
            EXIT_FAILURE,
            "the exported trail is not intact",
        ))
    }
}
