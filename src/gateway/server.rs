//! HTTP and WebSocket edges: `/v1/ws`, `/healthz`, `/metrics`.
//!
//! Each connection is a reader loop (frames in, ops to the engine, one at a
//! time so a client's ops take effect in the order it sent them) and a
//! writer task that owns the socket's sending half, takes replies and the
//! hub's events for this user, and numbers the events. The handlers stay
//! thin: deciding happens in the engine and the lifecycle.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use super::auth::{self, AuthError};
use super::engine::Engine;
use super::hub::Published;
use super::logs::ConnStreams;
use crate::protocol::{
    BAD_FRAMES_PER_MINUTE, CLOSE_POLICY, CLOSE_TOO_BIG, ClientFrame, ErrorBody, ErrorCode, Event,
    MAX_FRAME_BYTES, PROTOCOL_VERSION, Reply, UserInfo, encode_event, ts,
};

/// Close code for a connection that fell too far behind the event stream.
const CLOSE_TRY_AGAIN: u16 = 1013;
/// Frames waiting for the writer before the reader waits too.
const OUTBOX: usize = 1024;
/// Log frames waiting for the writer before the streams' own bounded
/// queues take the strain (and drop the oldest lines).
const LOG_OUTBOX: usize = 8;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/v1/ws", get(upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/audit/key", get(audit_key))
        .with_state(engine)
}

async fn healthz(State(engine): State<Arc<Engine>>) -> Response {
    match engine.store.audit_head().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response(),
    }
}

async fn audit_key(State(engine): State<Arc<Engine>>) -> Response {
    let body = serde_json::json!({"algorithm": "ed25519", "key": engine.audit_key()});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        engine.metrics.render(Some(engine.grants_in_force())),
    )
        .into_response()
}

async fn upgrade(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth::authenticate(&*engine.store, &engine.policy, authorization).await {
        Ok(user) => ws
            .read_buffer_size(crate::protocol::READ_BUFFER_BYTES)
            .max_message_size(MAX_FRAME_BYTES)
            .max_frame_size(MAX_FRAME_BYTES)
            .on_upgrade(move |socket| connection(engine, user, socket)),
        Err(AuthError::Store(e)) => {
            tracing::error!(error = %e, "cannot check a token");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Err(e) => {
            engine.metrics.auth_failed();
            tracing::info!(error = %e, "refused an upgrade");
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                format!("{e}\n"),
            )
                .into_response()
        }
    }
}

/// What the writer task sends.
enum Outgoing {
    Reply(String),
    /// An event only this connection gets (hello).
    Own(Box<Event>),
    /// An event from the hub, encoded once for everyone.
    Shared(Arc<Published>),
    /// A log stream's event object, without seq and at.
    Log(String),
    Close(u16, &'static str),
}

async fn connection(engine: Arc<Engine>, user: UserInfo, socket: WebSocket) {
    engine.metrics.connection_opened();
    let (sink, mut stream) = socket.split();
    let (out, out_rx) = mpsc::channel::<Outgoing>(OUTBOX);
    let (subscription, events) = engine.hub.subscribe(&user.name);
    let (log_out, log_rx) = mpsc::channel::<String>(LOG_OUTBOX);
    let mut streams = ConnStreams::new(log_out);
    let writer = tokio::spawn(write_frames(sink, out_rx, events, log_rx, engine.clone()));
    let hello = Event::Hello {
        protocol: PROTOCOL_VERSION,
        server_time: ts::now(),
        user: user.clone(),
        audit_key: Some(engine.audit_key()),
    };
    let _ = out.send(Outgoing::Own(Box::new(hello))).await;
    let mut bad_frames: VecDeque<Instant> = VecDeque::new();
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => break,
            Ok(Message::Binary(_)) => {
                let e = ErrorBody::new(
                    ErrorCode::BadRequest,
                    "binary frames are not part of protocol v1; send JSON text frames",
                );
                if !refuse(&out, &mut bad_frames, None, e).await {
                    break;
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                if is_too_big(&e) {
                    let _ = out
                        .send(Outgoing::Close(CLOSE_TOO_BIG, "frame over 1 MiB"))
                        .await;
                }
                break;
            }
        };
        match ClientFrame::decode(text.as_str()) {
            Ok(frame) => {
                let reply = engine
                    .execute(&user, &frame.id, frame.op, &mut streams)
                    .await;
                if out.send(Outgoing::Reply(reply)).await.is_err() {
                    break;
                }
                // A stream the op opened sends once its id is on its way.
                streams.start_pending();
            }
            Err(e) => {
                let body = ErrorBody::new(ErrorCode::BadRequest, e.message);
                if !refuse(&out, &mut bad_frames, e.id, body).await {
                    break;
                }
            }
        }
    }
    drop(streams);
    drop(subscription);
    drop(out);
    let _ = writer.await;
    engine.metrics.connection_closed();
}

/// Answers a bad frame; returns false (after sending a 1008 close) when the
/// client has sent too many of them in the last minute.
async fn refuse(
    out: &mpsc::Sender<Outgoing>,
    bad_frames: &mut VecDeque<Instant>,
    id: Option<String>,
    error: ErrorBody,
) -> bool {
    let now = Instant::now();
    while bad_frames
        .front()
        .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
    {
        bad_frames.pop_front();
    }
    bad_frames.push_back(now);
    if bad_frames.len() > BAD_FRAMES_PER_MINUTE as usize {
        let _ = out
            .send(Outgoing::Close(CLOSE_POLICY, "too many malformed frames"))
            .await;
        return false;
    }
    out.send(Outgoing::Reply(Reply::err(id, error).encode()))
        .await
        .is_ok()
}

fn is_too_big(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tungstenite::Error::Capacity(_)) = err.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Most frames written before one flush: what was ready when the writer
/// woke goes out in one send, without holding a reply behind a long burst.
const FRAMES_PER_FLUSH: usize = 64;

/// Owns the sending half: replies from the reader, events from the hub.
/// Numbering events here keeps `seq` gap-free in the order sent.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    mut events: mpsc::Receiver<Arc<Published>>,
    mut logs: mpsc::Receiver<String>,
    engine: Arc<Engine>,
) {
    let mut seq = 0u64;
    'connection: loop {
        let first = tokio::select! {
            // Replies first: a client waiting on one should not wait behind
            // a burst of other people's events.
            biased;
            out = rx.recv() => match out {
                Some(out) => out,
                None => break,
            },
            published = events.recv() => match published {
                Some(p) => Outgoing::Shared(p),
                None => Outgoing::Close(CLOSE_TRY_AGAIN, "fell behind on events; reconnect to resync"),
            },
            Some(event) = logs.recv() => Outgoing::Log(event),
        };
        // Whatever else is already waiting joins it: an op's reply and the
        // event it caused usually arrive together, and one send (one
        // syscall, one wake-up at the client) beats two. A closed or lagged
        // channel is left for the select above to report.
        let mut next = Some(first);
        let mut written = 0;
        while let Some(out) = next.take() {
            let msg = match out {
                Outgoing::Reply(text) => Message::Text(text.into()),
                Outgoing::Own(event) => {
                    seq += 1;
                    engine.metrics.event_sent();
                    Message::Text(encode_event(seq, ts::now(), &event).into())
                }
                Outgoing::Shared(published) => {
                    seq += 1;
                    engine.metrics.event_sent();
                    Message::Text(published.frame(seq).into())
                }
                Outgoing::Log(json) => {
                    seq += 1;
                    engine.metrics.event_sent();
                    Message::Text(super::hub::splice_frame(seq, &ts::now(), &json).into())
                }
                Outgoing::Close(code, reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })))
                        .await;
                    break 'connection;
                }
            };
            if sink.feed(msg).await.is_err() {
                break 'connection;
            }
            written += 1;
            if written < FRAMES_PER_FLUSH {
                next = rx
                    .try_recv()
                    .ok()
                    .or_else(|| events.try_recv().ok().map(Outgoing::Shared))
                    .or_else(|| logs.try_recv().ok().map(Outgoing::Log));
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}
