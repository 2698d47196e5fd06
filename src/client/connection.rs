//! One WebSocket connection to a gateway: request/response by op id, and
//! the stream of pushed events.
//!
//! A reader task routes replies to the caller waiting on that id and events
//! to one channel. This module knows frames, not users: the CLI and the
//! console decide what to do with what arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::protocol::{
    ClientFrame, ErrorBody, ErrorCode, Event, EventFrame, MAX_FRAME_BYTES, Op, ReceivedReply,
    ServerFrame, UserInfo,
};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<ReceivedReply>>>>;

/// How long a connection attempt or a reply may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong talking to the gateway, with what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the gateway at {url}: {reason}. Is it running? (`breakglass gateway --dev` starts one)"
    )]
    Unreachable { url: String, reason: String },
    #[error("the gateway refused your token: {0}. Get a new one and run `breakglass login`")]
    Unauthorized(String),
    #[error("{0}")]
    Refused(ErrorBody),
    #[error(
        "the connection to the gateway was lost; nothing after the last reply is known to have happened"
    )]
    Disconnected,
    #[error("the gateway did not answer within {0:?}")]
    Timeout(Duration),
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The gateway's error code, when it refused the op.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused(e) => Some(e.code),
            _ => None,
        }
    }
}

/// An open connection.
pub struct Connection {
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    pending: Pending,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<EventFrame>>,
    pub user: UserInfo,
    /// Server time minus local time at `hello`: add it to local time to get
    /// the gateway's clock, which every countdown uses.
    pub clock_offset: chrono::Duration,
    /// The gateway's checkpoint-signing public key (hex), from `hello`.
    pub audit_key: Option<String>,
}

impl Connection {
    /// Connects, authenticates and waits for `hello`.
    pub async fn connect(url: &str, token: &str) -> Result<Connection, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| unreachable(format!("bad URL ({e}); expected ws://HOST:PORT/v1/ws")))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
            ClientError::Unauthorized("the token contains invalid characters".into())
        })?;
        request.headers_mut().insert("authorization", bearer);
        let config = WebSocketConfig::default()
            .read_buffer_size(crate::protocol::READ_BUFFER_BYTES)
            .max_message_size(Some(MAX_FRAME_BYTES * 16))
            .max_frame_size(Some(MAX_FRAME_BYTES * 16));
        let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (socket, _) = match tokio::time::timeout(TIMEOUT, connecting).await {
            Err(_) => return Err(unreachable("timed out".into())),
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let body = resp
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).trim().to_string())
                    .unwrap_or_default();
                return Err(if resp.status() == 401 {
                    ClientError::Unauthorized(body)
                } else {
                    unreachable(format!("HTTP {} {body}", resp.status()))
                });
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(ok)) => ok,
        };
        let (sink, mut stream) = socket.split();
        let first = tokio::time::timeout(TIMEOUT, stream.next())
            .await
            .map_err(|_| ClientError::Timeout(TIMEOUT))?;
        let (user, server_time, audit_key) = match first {
            Some(Ok(Message::Text(t))) => match ServerFrame::decode(t.as_str()) {
                Ok(ServerFrame::Event(EventFrame {
                    event:
                        Event::Hello {
                            user,
                            server_time,
                            audit_key,
                            ..
                        },
                    ..
                })) => (user, server_time, audit_key),
                _ => {
                    return Err(ClientError::Protocol(
                        "the first frame was not `hello`".into(),
                    ));
                }
            },
            _ => return Err(ClientError::Disconnected),
        };
        let clock_offset = server_time - Utc::now();
        let pending: Pending = Arc::default();
        let (events_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(read_frames(stream, pending.clone(), events_tx));
        Ok(Connection {
            sink: tokio::sync::Mutex::new(sink),
            pending,
            events: tokio::sync::Mutex::new(events),
            user,
            clock_offset,
            audit_key,
        })
    }

    /// The gateway's clock now, as far as this connection knows.
    pub fn server_now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// Sends an op and waits for its reply; a refusal is `ClientError::Refused`.
    pub async fn call(&self, op: Op) -> Result<ReceivedReply, ClientError> {
        self.call_frame(ClientFrame::new(op)).await
    }

    /// The same with a caller-chosen id (to resend an op idempotently).
    pub async fn call_frame(&self, frame: ClientFrame) -> Result<ReceivedReply, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending lock")
            .insert(frame.id.clone(), tx);
        let sent = self
            .sink
            .lock()
            .await
            .send(Message::Text(frame.encode().into()))
            .await;
        if sent.is_err() {
            self.pending.lock().expect("pending lock").remove(&frame.id);
            return Err(ClientError::Disconnected);
        }
        let reply = match tokio::time::timeout(TIMEOUT, rx).await {
            Err(_) => {
                self.pending.lock().expect("pending lock").remove(&frame.id);
                return Err(ClientError::Timeout(TIMEOUT));
            }
            Ok(Err(_)) => return Err(ClientError::Disconnected),
            Ok(Ok(reply)) => reply,
        };
        match (reply.ok, reply.error.clone()) {
            (true, _) => Ok(reply),
            (false, Some(e)) => Err(ClientError::Refused(e)),
            (false, None) => Err(ClientError::Protocol(
                "failed reply without an error".into(),
            )),
        }
    }

    /// The next pushed event; `None` once the connection is gone.
    pub async fn next_event(&self) -> Option<EventFrame> {
        self.events.lock().await.recv().await
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self.sink.lock().await.close().await;
    }
}

async fn read_frames(
    mut stream: futures_util::stream::SplitStream<Socket>,
    pending: Pending,
    events: mpsc::UnboundedSender<EventFrame>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        match ServerFrame::decode(text.as_str()) {
            Ok(ServerFrame::Reply(reply)) => {
                let waiter = reply
                    .re
                    .as_ref()
                    .and_then(|id| pending.lock().expect("pending lock").remove(id));
                if let Some(tx) = waiter {
                    let _ = tx.send(reply);
                }
            }
            Ok(ServerFrame::Event(event)) => {
                let _ = events.send(event);
            }
            Err(e) => tracing::warn!(error = %e, "ignoring an unreadable frame"),
        }
    }
    // Dropping the waiters tells every caller the connection is gone.
    pending.lock().expect("pending lock").clear();
}
