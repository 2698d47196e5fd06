//! The gateway server: opens the store, expires what ran out while it was
//! down, starts the expiry scheduler and serves HTTP + WebSocket.
//!
//! `start` returns a handle so the same gateway runs as `breakglass gateway`,
//! inside `breakglass demo`, and inside tests and benchmarks.

pub mod active_grants;
pub mod auth;
pub mod config;
pub mod engine;
pub mod hub;
pub mod logs;
pub mod metric_sources;
pub mod metrics;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod stream_ops;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::config::GatewayConfig;
use self::engine::{Deadline, Engine};
use self::metrics::Metrics;
use self::store::sqlite::SqliteStore;
use self::store::{Store, StoreError};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "refusing to listen on {0} without TLS: TLS termination is not built into this version, so put a TLS proxy in front and pass --insecure (or set `insecure = true`)"
    )]
    InsecureListen(SocketAddr),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    UnknownIdentity(String),
    #[error("simulated services: {0}")]
    Simulation(String),
    #[error("audit key {path}: {source}")]
    Key {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl Running {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes connections and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.server.await;
    }

    /// Waits until the server task ends (it does not on its own).
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}

/// How often the chain head is signed when it moved.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Signs the chain head periodically, whenever it moved since the last one.
async fn sign_checkpoints(engine: Arc<Engine>) {
    let mut last: Option<u64> = None;
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    loop {
        tick.tick().await;
        let head = engine.store.audit_head().await.ok().flatten().map(|h| h.0);
        if head.is_some() && head != last {
            match engine.checkpoint().await {
                Ok(c) => last = Some(c.seq),
                Err(e) => tracing::error!(error = %e.0, "could not sign a checkpoint"),
            }
        }
    }
}

/// The gateway's checkpoint key: made on first start, kept in the data dir
/// readable by the gateway's user only.
fn load_or_create_key(dir: &std::path::Path) -> Result<ed25519_dalek::SigningKey, StartError> {
    let path = dir.join("audit-key");
    let io = |source| StartError::Key {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StartError::Key {
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not 32 hex-encoded bytes",
                    ),
                })?;
            Ok(crate::audit::checkpoint::signing_key(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::Rng::fill_bytes(&mut rand::rng(), &mut secret);
            crate::client::settings::write_private(&path, &hex::encode(secret)).map_err(io)?;
            Ok(crate::audit::checkpoint::signing_key(&secret))
        }
        Err(e) => Err(io(e)),
    }
}

/// Opens the SQLite store of a config.
pub async fn open_store(cfg: &GatewayConfig) -> Result<Arc<dyn Store>, StartError> {
    let dir = &cfg.server.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
        path: dir.clone(),
        source,
    })?;
    let store = SqliteStore::open(&dir.join("gateway.db"), cfg.server.store_busy_timeout).await?;
    Ok(Arc::new(store))
}

/// Starts a gateway for `cfg` with `store`.
pub async fn start(cfg: GatewayConfig, store: Arc<dyn Store>) -> Result<Running, StartError> {
    let listen = cfg.server.listen;
    if !listen.ip().is_loopback() && !cfg.server.insecure {
        return Err(StartError::InsecureListen(listen));
    }
    let signer = load_or_create_key(&cfg.server.data_dir)?;
    let (deadline_tx, deadline_rx) = mpsc::unbounded_channel();
    let streams = Arc::new(logs::LogStreams::new(&cfg.sources));
    let charts = Arc::new(metric_sources::MetricSources::new(
        &cfg.sources
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.metrics.clone()?)))
            .collect(),
    ));
    // A chart needs history the moment someone asks: scraping starts now.
    charts.start();
    let engine = Arc::new(Engine::new(
        store,
        Arc::new(cfg.policy),
        streams,
        charts,
        Arc::new(Metrics::default()),
        deadline_tx,
        signer,
    ));
    engine.load_active_grants().await?;
    // Whatever ran out while the gateway was down is expired before anyone
    // can connect and use it.
    let now = Utc::now();
    for deadline in engine.all_deadlines().await? {
        if deadline.at() <= now {
            match &deadline {
                Deadline::GrantExpiry { id, .. } => engine.expire_grant(id).await?,
                Deadline::RequestTtl { id, .. } => engine.expire_request(id).await?,
            };
        } else {
            engine.schedule(deadline);
        }
    }
    tokio::spawn(scheduler::run(engine.clone(), deadline_rx));
    tokio::spawn(sign_checkpoints(engine.clone()));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: listen,
        source,
    })?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let app = server::router(engine.clone());
    // An event and the reply that follows it leave back to back; with
    // Nagle's algorithm the reply waits ~40 ms for the event's ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = shutdown_rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    tracing::info!(%addr, "gateway listening");
    Ok(Running {
        addr,
        engine,
        shutdown: Some(shutdown_tx),
        server,
    })
}
