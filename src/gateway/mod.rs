//! The gateway server: opens the store, expires what ran out while it was
//! down, starts the expiry scheduler and serves HTTP + WebSocket.
//!
//! `start` returns a handle so the same gateway runs as `breakglass gateway`,
//! inside `breakglass demo`, and inside tests and benchmarks.

pub mod auth;
pub mod config;
pub mod engine;
pub mod hub;
pub mod metrics;
pub mod scheduler;
pub mod server;
pub mod store;

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
    let (deadline_tx, deadline_rx) = mpsc::unbounded_channel();
    let engine = Arc::new(Engine::new(
        store,
        Arc::new(cfg.policy),
        Arc::new(Metrics::default()),
        deadline_tx,
    ));
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
