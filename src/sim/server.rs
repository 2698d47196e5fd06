//! One service's `/metrics` endpoint on a loopback port of its own, as
//! each service would have in production.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::metrics::ServiceMetrics;
use super::{Service, SimError};

/// The content type of the text format 0.0.4.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct Endpoint {
    metrics: Arc<Mutex<ServiceMetrics>>,
    started: Instant,
}

pub(super) async fn listen(service: Service) -> Result<(TcpListener, SocketAddr), SimError> {
    let listen_err = |source| SimError::Listen { service, source };
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(listen_err)?;
    let addr = listener.local_addr().map_err(listen_err)?;
    Ok((listener, addr))
}

/// Serves until the task is aborted.
pub(super) async fn serve(listener: TcpListener, metrics: ServiceMetrics, started: Instant) {
    let endpoint = Endpoint {
        metrics: Arc::new(Mutex::new(metrics)),
        started,
    };
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(endpoint);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "simulated metrics endpoint stopped");
    }
}

/// Counters are integrated up to the moment of the scrape, so the rate
/// between two scrapes is the timeline's rate between them.
async fn scrape(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    let elapsed = endpoint.started.elapsed().as_secs_f64();
    let body = {
        // A panic elsewhere while holding the lock leaves figures that are
        // still sound: keep serving them.
        let mut metrics = endpoint
            .metrics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        metrics.advance_to(elapsed);
        metrics.render()
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}
