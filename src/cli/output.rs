//! Plain-text renderings of protocol objects for people at a shell prompt.
//! Pure: objects and the server's clock in, text out.

use chrono::{DateTime, Utc};

use crate::duration::format_duration;
use crate::protocol::{AccessRequest, Capability, Grant, GrantState, RequestState};

fn caps(c: &[Capability]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

fn secs(s: u64) -> String {
    format_duration(std::time::Duration::from_secs(s))
}

fn since(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    secs((now - t).num_seconds().max(0) as u64)
}

/// A fixed-width table: every column as wide as its widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

pub fn requests_table(requests: &[AccessRequest], now: DateTime<Utc>) -> String {
    if requests.is_empty() {
        return "no requests\n".into();
    }
    let rows = requests
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.state.as_str().to_string(),
                r.requester.clone(),
                r.service.clone(),
                caps(&r.capabilities),
                secs(r.duration_s),
                format!("{}/{}", r.approvals.len(), r.approvals_required),
                since(r.created_at, now),
                r.ticket.clone().unwrap_or_default(),
                r.reason.replace('\n', " "),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATE",
            "REQUESTER",
            "SERVICE",
            "CAPS",
            "FOR",
            "APPROVALS",
            "AGE",
            "TICKET",
            "REASON",
        ],
        rows,
    )
}

pub fn grants_table(grants: &[Grant], now: DateTime<Utc>) -> String {
    if grants.is_empty() {
        return "no grants\n".into();
    }
    let rows = grants
        .iter()
        .map(|g| {
            let left = if g.state == GrantState::Active && now < g.expires_at {
                secs((g.expires_at - now).num_seconds().max(0) as u64)
            } else {
                "-".into()
            };
            let state = if g.state == GrantState::Active && now >= g.expires_at {
                "expired"
            } else {
                g.state.as_str()
            };
            vec![
                g.id.clone(),
                state.to_string(),
                g.user.clone(),
                g.service.clone(),
                caps(&g.capabilities),
                left,
                crate::protocol::ts::format(&g.expires_at),
                if g.break_glass {
                    "break-glass".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATE", "USER", "SERVICE", "CAPS", "LEFT", "EXPIRES", "",
        ],
        rows,
    )
}

/// One line saying where a request stands.
pub fn request_line(r: &AccessRequest) -> String {
    let detail = match r.state {
        RequestState::Pending => format!(
            "pending, {}/{} approvals",
            r.approvals.len(),
            r.approvals_required
        ),
        RequestState::Approved => format!(
            "approved{}",
            r.grant_id
                .as_ref()
                .map(|g| format!(", grant {g}"))
                .unwrap_or_default()
        ),
        RequestState::Denied => format!(
            "denied by {}: {}",
            r.denied_by.as_deref().unwrap_or("?"),
            r.deny_reason.as_deref().unwrap_or("")
        ),
        other => other.as_str().to_string(),
    };
    format!(
        "{} {} {} for {}: {}\n",
        r.id,
        r.service,
        caps(&r.capabilities),
        secs(r.duration_s),
        detail
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up() {
        let t = table(
            &["ID", "STATE"],
            vec![
                vec!["req-1".into(), "pending".into()],
                vec!["r".into(), "ok".into()],
            ],
        );
        assert_eq!(t, "ID     STATE\nreq-1  pending\nr      ok\n");
    }
}
