//! `metrics.query` through the real binary against the dev gateway, which
//! scrapes the simulated services' real /metrics endpoints.

use std::time::Duration;

use breakglass::client::Connection;
use breakglass::protocol::{Capability, ErrorCode, Op, Series};

use crate::support::{Gateway, ask_for, audit, grant_at_once, revoke};

/// alice's `metrics:read` grant on `search` (approved at once: she is on
/// call there).
async fn metrics_grant(alice: &Connection) -> String {
    grant_at_once(
        alice,
        ask_for("search", Capability::MetricsRead, 600),
        "search is approved at once for alice",
    )
    .await
}

async fn query(
    conn: &Connection,
    service: &str,
) -> Result<Vec<Series>, breakglass::client::ClientError> {
    let mut reply = conn
        .call(Op::MetricsQuery {
            service: service.into(),
            metric: None,
            range_s: 900,
            step_s: 5,
        })
        .await?;
    Ok(reply.take("series").unwrap())
}

#[tokio::test]
async fn a_metrics_grant_reads_the_simulated_services_charts_and_each_query_is_audited() {
    let gw = Gateway::dev();
    let erin = gw.connect("erin").await;
    let err = query(&erin, "search").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");

    let alice = gw.connect("alice").await;
    metrics_grant(&alice).await;
    // The gateway scrapes every 5 s; a rate needs two scrapes.
    let mut series = Vec::new();
    for _ in 0..40 {
        series = query(&alice, "search").await.unwrap();
        if series
            .iter()
            .any(|s| s.name == "rps" && !s.points.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["rps", "error_ratio", "latency_p99", "memory"],
        "{series:?}"
    );
    let rps = &series[0];
    assert_eq!(rps.unit, "req/s");
    assert!(
        !rps.points.is_empty() && rps.points.iter().all(|p| p.1 > 0.0),
        "search serves traffic: {rps:?}"
    );
    let memory = series.iter().find(|s| s.name == "memory").unwrap();
    assert!(
        !memory.points.is_empty() && memory.points[0].1 > 1e6,
        "{memory:?}"
    );

    // A logs:read grant does not give metrics.
    let err = query(&alice, "payments").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");

    let entries = audit(&alice, None).await;
    let reads = entries
        .iter()
        .filter(|e| e.action == "metrics.query")
        .count();
    assert!(reads >= 1, "every query is in the trail");
    assert!(
        entries
            .iter()
            .any(|e| e.action == "metrics.query.refused" && e.target == "payments")
    );

    let (code, out, stderr) = gw.cli("alice", &["metrics", "search", "--range", "15m"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("rps") && l.contains("latest")),
        "{out}"
    );
    let (code, _, stderr) = gw.cli("erin", &["metrics", "search"]);
    assert_eq!(code, 3, "{stderr}");
}

#[tokio::test]
async fn a_grant_still_covers_after_a_restart_and_stops_covering_the_moment_it_is_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut gw = Gateway::dev_in(tmp.path());
    let alice = gw.connect("alice").await;
    let grant_id = metrics_grant(&alice).await;
    query(&alice, "search").await.unwrap();
    drop(alice);
    gw.kill();

    // The gateway knows its active grants again before it takes an op.
    let gw = Gateway::dev_in(tmp.path());
    let alice = gw.connect("alice").await;
    query(&alice, "search")
        .await
        .expect("the grant covers metrics after the restart");
    revoke(&gw.connect("carol").await, &grant_id, "incident over").await;
    let err = query(&alice, "search").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
}
