//! The data ops: `logs.subscribe` and `logs.unsubscribe`, which need the
//! connection they arrive on because the lines go back down it, and
//! `metrics.query`. [`Engine::execute`] routes them here like any read.
//!
//! Rule 1 (no grant, no data) and rule 6 (audited before acknowledged) are
//! checked here; the streaming itself is `logs`, the charts
//! `metric_sources`. A refused attempt is recorded too.

use serde_json::json;

use super::engine::{Engine, OpError};
use super::logs::{ConnStreams, MAX_STREAMS_PER_CONNECTION, SubscribeError, SubscribeRequest};
use crate::protocol::{Capability, CloseReason, ErrorCode, LogFilter, ReplyBody, UserInfo};

impl Engine {
    /// `logs.subscribe`: the grant, then the audit record; the stream
    /// starts once the reply is queued ([`ConnStreams::start_pending`]).
    pub(super) async fn logs_subscribe(
        &self,
        user: &UserInfo,
        service: &str,
        filter: Option<LogFilter>,
        since_s: Option<u64>,
        conn: &mut ConnStreams,
    ) -> Result<ReplyBody, OpError> {
        let result = self
            .subscribe(user, service, filter.clone(), since_s, conn)
            .await;
        let asked = json!({ "filter": filter, "since_s": since_s });
        self.note_refusal(user, "logs.subscribe", service, asked, result)
            .await
    }

    /// `logs.unsubscribe`: recorded with what the stream sent, then closed.
    pub(super) async fn logs_unsubscribe(
        &self,
        user: &UserInfo,
        sub_id: &str,
        conn: &mut ConnStreams,
    ) -> Result<ReplyBody, OpError> {
        let Some(sub) = conn.get(sub_id) else {
            return Err(OpError::new(
                ErrorCode::NotFound,
                format!("no open stream `{sub_id}` on this connection"),
            ));
        };
        let sent = sub.sent();
        let detail = json!({"sub_id": sub_id, "lines_sent": sent.lines, "bytes_sent": sent.bytes});
        self.record(&user.name, "logs.unsubscribe", sub.service(), detail)
            .await?;
        if let Some(sub) = conn.remove(sub_id) {
            sub.close(CloseReason::Unsubscribed);
        }
        Ok(ReplyBody::Empty {})
    }

    /// Passes `result` on; a refusal (anything but the audit itself
    /// failing) is first recorded as `ACTION.refused` with what was asked:
    /// asking for data without the right to is worth a line in the trail.
    /// If even that cannot be written, the refusal still stands.
    async fn note_refusal<T>(
        &self,
        user: &UserInfo,
        action: &str,
        target: &str,
        asked: serde_json::Value,
        result: Result<T, OpError>,
    ) -> Result<T, OpError> {
        if let Err(OpError(body)) = &result
            && body.code != ErrorCode::AuditUnavailable
        {
            let mut detail = json!({"code": body.code, "message": body.message});
            if let (Some(d), serde_json::Value::Object(extra)) = (detail.as_object_mut(), asked) {
                d.extend(extra);
            }
            let refused = format!("{action}.refused");
            if let Err(e) = self.record(&user.name, &refused, target, detail).await {
                tracing::error!(error = %e.0, %action, "could not record a refusal");
            }
        }
        result
    }

    /// `metrics.query`: the grant, then the audit record, then the data.
    pub(super) async fn metrics_query(
        &self,
        user: &UserInfo,
        service: &str,
        metric: Option<String>,
        range_s: u64,
        step_s: u64,
    ) -> Result<ReplyBody, OpError> {
        let query = json!({"metric": metric, "range_s": range_s, "step_s": step_s});
        let allowed = match self.covering_grant(&user.name, service, Capability::MetricsRead) {
            Ok(grant) if self.charts.has_source(service) => Ok(grant),
            Ok(_) => Err(OpError::new(
                ErrorCode::NotFound,
                format!("the gateway has no metrics source configured for `{service}`"),
            )),
            Err(e) => Err(e),
        };
        let asked = json!({ "query": query });
        let grant = self
            .note_refusal(user, "metrics.query", service, asked, allowed)
            .await?;
        let detail = json!({"grant_id": grant.id, "query": query});
        // The append and the upstream query overlap, but nothing is answered
        // until both are done: the data leaves only once the access is in
        // the chain.
        let (recorded, answered) = tokio::join!(
            self.record(&user.name, "metrics.query", service, detail),
            self.charts
                .query(service, metric.as_deref(), range_s, step_s)
        );
        recorded?;
        let series = answered.map_err(|e| OpError::new(e.code(), e.to_string()))?;
        Ok(ReplyBody::Series { series })
    }

    async fn subscribe(
        &self,
        user: &UserInfo,
        service: &str,
        filter: Option<LogFilter>,
        since_s: Option<u64>,
        conn: &mut ConnStreams,
    ) -> Result<ReplyBody, OpError> {
        let grant = self.covering_grant(&user.name, service, Capability::LogsRead)?;
        if conn.open_count() >= MAX_STREAMS_PER_CONNECTION {
            return Err(OpError::new(
                ErrorCode::RateLimited,
                format!(
                    "{MAX_STREAMS_PER_CONNECTION} streams are open on this connection; close one with logs.unsubscribe first"
                ),
            ));
        }
        let sub = self
            .logs
            .subscribe(SubscribeRequest {
                service: service.to_string(),
                grant_id: grant.id.clone(),
                expires_at: grant.expires_at,
                filter: filter.clone(),
                since_s,
            })
            .map_err(|e| match e {
                SubscribeError::NoSource(_) => OpError::new(ErrorCode::NotFound, e.to_string()),
                SubscribeError::BadFilter(_) => OpError::new(ErrorCode::BadRequest, e.to_string()),
            })?;
        // A grant revoked or extended between the check above and the
        // attach told the streams it backs before this one was among them.
        // The index changes before the streams hear of it, so a look at it
        // now, with the stream attached, misses nothing: gone, the stream
        // goes too (dropping `sub` detaches it); extended, it takes the new
        // end.
        match self.active_grant_expiry(&grant.id) {
            None => {
                return Err(OpError::new(
                    ErrorCode::Forbidden,
                    format!("grant {} ended while the stream was being opened", grant.id),
                ));
            }
            Some(expires_at) => sub.extend_to(expires_at),
        }
        // "Only new lines" counts from this reply: wait until the reader
        // has its files open, or lines written meanwhile would be history.
        sub.following().await;
        // Nothing leaves before the access is in the chain: the stream only
        // starts after this reply. If the append fails, dropping `sub`
        // detaches it.
        let detail = json!({
            "sub_id": sub.sub_id(),
            "grant_id": grant.id,
            "filter": filter,
            "since_s": since_s,
        });
        self.record(&user.name, "logs.subscribe", service, detail)
            .await?;
        let sub_id = sub.sub_id().to_string();
        conn.add(sub);
        Ok(ReplyBody::Subscription { sub_id })
    }
}
