//! `breakglass demo`: a dev gateway in-process plus simulated colleagues, so
//! one person sees the whole flow from a single command.
//!
//! The colleagues are real clients over real WebSockets: bob approves
//! requests a few seconds after they arrive (dave gives second approvals),
//! erin files requests of her own so the queue and sessions panes have
//! traffic. Whoever the human plays is left to the human.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::client::Connection;
use crate::gateway::config::GatewayConfig;
use crate::gateway::logs::config::LogSourceConfig;
use crate::gateway::metric_sources::MetricSourceConfig;
use crate::gateway::{self, Running, StartError, auth};
use crate::protocol::{Capability, Event, Op, RequestState};
use crate::sim::{SimOptions, SimServices};

/// A running demo: the gateway, the simulated services and colleagues.
pub struct Demo {
    pub gateway: Running,
    pub tokens: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    pub services: SimServices,
    colleagues: Vec<JoinHandle<()>>,
}

/// Starts the simulated services under the config's data dir and points
/// the config's sources at what they write and serve, as a production
/// config points at real services.
pub async fn simulated_services(cfg: &mut GatewayConfig) -> Result<SimServices, StartError> {
    let dir = cfg.server.data_dir.join("sim");
    let sim = SimServices::start(&dir, SimOptions::default())
        .await
        .map_err(|e| StartError::Simulation(e.to_string()))?;
    for service in sim.services() {
        let sources = cfg.sources.entry(service.name().to_string()).or_default();
        sources.logs = Some(LogSourceConfig::file(sim.log_path(service)));
        let url = reqwest::Url::parse(&sim.metrics_url(service))
            .map_err(|e| StartError::Simulation(format!("metrics URL: {e}")))?;
        sources.metrics = Some(MetricSourceConfig::scrape(vec![url]));
    }
    Ok(sim)
}

impl Demo {
    pub fn url(&self) -> String {
        self.gateway.ws_url()
    }

    pub async fn stop(self) {
        for c in &self.colleagues {
            c.abort();
        }
        self.gateway.stop().await;
        self.services.stop().await;
    }
}

/// Starts the gateway (loopback, a free port) and the colleagues of `human`.
pub async fn start(human: &str, data_dir: PathBuf) -> Result<Demo, StartError> {
    let mut cfg = GatewayConfig::dev(SocketAddr::from(([127, 0, 0, 1], 0)), data_dir.clone());
    if cfg.policy.user(human).is_none() {
        let known: Vec<&str> = cfg.policy.user_names().collect();
        return Err(StartError::UnknownIdentity(format!(
            "`{human}` is not a demo identity; pick one of {}",
            known.join(", ")
        )));
    }
    let store = gateway::open_store(&cfg).await?;
    let services = simulated_services(&mut cfg).await?;
    let users: Vec<String> = cfg.policy.user_names().map(str::to_string).collect();
    let running = gateway::start(cfg, store.clone()).await?;
    let mut tokens = BTreeMap::new();
    for user in users {
        let minted = auth::mint(&user, None, "demo");
        store.insert_token(minted.record).await?;
        tokens.insert(user, minted.token);
    }
    let url = running.ws_url();
    let mut colleagues = Vec::new();
    if human != "bob" {
        colleagues.push(tokio::spawn(approver(
            url.clone(),
            tokens["bob"].clone(),
            Duration::from_secs(4),
            false,
        )));
    }
    if human != "dave" {
        colleagues.push(tokio::spawn(approver(
            url.clone(),
            tokens["dave"].clone(),
            Duration::from_secs(7),
            true,
        )));
    }
    if human != "erin" {
        colleagues.push(tokio::spawn(requester(
            url.clone(),
            tokens["erin"].clone(),
            ERIN,
        )));
    }
    if human != "alice" {
        colleagues.push(tokio::spawn(requester(
            url.clone(),
            tokens["alice"].clone(),
            ALICE,
        )));
    } else {
        // Alice starts the demo with a grant counting down.
        let (url, token) = (url.clone(), tokens["alice"].clone());
        colleagues.push(tokio::spawn(async move {
            if let Ok(conn) = Connection::connect(&url, &token).await {
                let _ = conn
                    .call(ask(
                        "search",
                        600,
                        "routine look at search latency after the deploy",
                        None,
                    ))
                    .await;
            }
        }));
    }
    Ok(Demo {
        gateway: running,
        tokens,
        data_dir,
        services,
        colleagues,
    })
}

fn ask(service: &str, secs: u64, reason: &str, ticket: Option<&str>) -> Op {
    Op::RequestCreate {
        service: service.into(),
        capabilities: vec![Capability::LogsRead, Capability::MetricsRead],
        duration_s: secs,
        reason: reason.into(),
        ticket: ticket.map(str::to_string),
        break_glass: false,
    }
}

/// An approver who approves what arrives after `delay`; a `second`
/// approver only adds the approvals after the first.
async fn approver(url: String, token: String, delay: Duration, second: bool) {
    let Ok(conn) = Connection::connect(&url, &token).await else {
        return;
    };
    let conn = std::sync::Arc::new(conn);
    let me = conn.user.name.clone();
    let mut scheduled = HashSet::new();
    while let Some(frame) = conn.next_event().await {
        let Event::RequestUpdated { request } = frame.event else {
            continue;
        };
        let counted = request.approvals.len() as u32;
        let wants_me = request.state == RequestState::Pending
            && request.requester != me
            && !request.approvals.iter().any(|a| a.by == me)
            && (!second || (counted >= 1 && counted < request.approvals_required));
        if wants_me && scheduled.insert((request.id.clone(), counted)) {
            let conn = conn.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = conn
                    .call(Op::RequestApprove {
                        request_id: request.id,
                        comment: Some("ack, go ahead".into()),
                        totp: None,
                    })
                    .await;
            });
        }
    }
}

/// What a simulated engineer asks for, in turn.
type Script = &'static [(&'static str, u64, &'static str, &'static str)];

const ERIN: Script = &[
    (
        "checkout",
        300,
        "INC-1042 checkout p99 above 2 s since 02:40",
        "INC-1042",
    ),
    (
        "payments",
        240,
        "INC-1042 payment retries spiking, checking gateway timeouts",
        "INC-1042",
    ),
    ("search", 180, "reindex job stuck, need its logs", "OPS-311"),
];

const ALICE: Script = &[
    (
        "payments",
        600,
        "INC-1042 card declines from one acquirer",
        "INC-1042",
    ),
    (
        "search",
        300,
        "routine look at search latency after the deploy",
        "OPS-310",
    ),
];

/// An engineer who files the next request of `script` every little while.
async fn requester(url: String, token: String, script: Script) {
    let Ok(conn) = Connection::connect(&url, &token).await else {
        return;
    };
    for (i, (service, secs, reason, ticket)) in script.iter().cycle().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(45)).await;
        }
        if conn
            .call(ask(service, *secs, reason, Some(ticket)))
            .await
            .is_err()
            && conn.call(Op::CatalogList {}).await.is_err()
        {
            return;
        }
    }
}
