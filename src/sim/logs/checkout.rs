//! checkout: a Go service with a logfmt logger, calling payments on every
//! order (so payments' trouble shows here as upstream timeouts).

use super::Emit;
use super::format::Logfmt;
use super::secrets;
use crate::sources::Level;

/// checkout gives up on payments after this long.
const UPSTREAM_TIMEOUT_MS: u64 = 1500;

pub(super) fn event(e: &mut Emit, level: Level) {
    let order = secrets::order_id(e.rng);
    let trace = secrets::trace_id(e.rng);
    let line = match level {
        Level::Error => error(e, &order, &trace),
        Level::Warn => warn(e, &order, &trace),
        Level::Debug => debug(e, &order),
        _ => info(e, &order, &trace),
    };
    e.line(level, line.finish());
}

fn info(e: &mut Emit, order: &str, trace: &str) -> Logfmt {
    let ms = e.duration_ms();
    match e.rng.below(3) {
        // The order number customers see: 16 digits, no Luhn, must stay.
        0 => Logfmt::new(e.now, Level::Info, "order placed")
            .kv("order_id", order)
            .kv("order_number", secrets::not_a_card(e.rng))
            .kv("cart_items", e.rng.range(1, 7))
            .kv("total_cents", e.rng.range(499, 129_900))
            .kv("trace_id", trace)
            .kv("duration_ms", ms),
        1 => Logfmt::new(e.now, Level::Info, "cart updated")
            .kv("cart_id", e.rng.uuid())
            .kv("items", e.rng.range(1, 9))
            .kv("duration_ms", ms),
        _ => {
            let (method, path) = *e.rng.pick(&[
                ("GET", "/cart"),
                ("POST", "/cart/items"),
                ("POST", "/checkout"),
            ]);
            Logfmt::new(e.now, Level::Info, "http request")
                .kv("method", method)
                .kv("path", path)
                .kv("status", 200)
                .kv("request_id", e.rng.uuid())
                .kv("duration_ms", ms)
        }
    }
}

fn debug(e: &mut Emit, order: &str) -> Logfmt {
    if e.rng.chance(0.5) {
        Logfmt::new(e.now, Level::Debug, "cache hit")
            .kv("key", format!("cart:{}", e.rng.uuid()))
            .kv("ttl_s", 300)
    } else {
        let ms = e.duration_ms() / 2 + 1;
        Logfmt::new(e.now, Level::Debug, "payments call")
            .kv("upstream", "payments")
            .kv("order_id", order)
            .kv("status", 200)
            .kv("duration_ms", ms)
    }
}

fn warn(e: &mut Emit, order: &str, trace: &str) -> Logfmt {
    let ms = e.slow_ms();
    if e.state.slowness > 0.0 && e.rng.chance(0.8) {
        Logfmt::new(e.now, Level::Warn, "upstream slow")
            .kv("upstream", "payments")
            .kv("order_id", order)
            .kv("duration_ms", ms.max(UPSTREAM_TIMEOUT_MS / 2))
            .kv("timeout_ms", UPSTREAM_TIMEOUT_MS)
            .kv("trace_id", trace)
    } else {
        Logfmt::new(e.now, Level::Warn, "retrying upstream")
            .kv("upstream", "inventory")
            .kv("attempt", 2)
            .kv("backoff_ms", e.rng.range(50, 400))
            .kv("trace_id", trace)
    }
}

fn error(e: &mut Emit, order: &str, trace: &str) -> Logfmt {
    if e.state.failing > 0.0 || e.rng.chance(0.5) {
        Logfmt::new(e.now, Level::Error, "upstream timeout")
            .kv("upstream", "payments")
            .kv("order_id", order)
            .kv("err", "context deadline exceeded")
            .kv("duration_ms", UPSTREAM_TIMEOUT_MS + e.rng.range(0, 20))
            .kv("trace_id", trace)
    } else {
        Logfmt::new(e.now, Level::Error, "checkout failed")
            .kv("order_id", order)
            .kv("err", "payments returned 503 Service Unavailable")
            .kv("status", 502)
            .kv("trace_id", trace)
    }
}

pub(super) fn secret_event(e: &mut Emit) {
    let trace = secrets::trace_id(e.rng);
    let (level, line, secret) = match e.rng.below(9) {
        0..=2 => {
            let email = secrets::email(e.rng);
            let line = Logfmt::new(e.now, Level::Info, "login succeeded")
                .kv("email", &email)
                .kv("method", "password")
                .kv("trace_id", &trace);
            (Level::Info, line, email)
        }
        3 | 4 => {
            let subject = format!("usr_{}", e.rng.token62(10));
            let expires = e.now.timestamp() + 3600;
            let jwt = secrets::jwt(e.rng, &subject, expires);
            let line = Logfmt::new(e.now, Level::Debug, "session refreshed")
                .kv("user_id", &subject)
                .kv("session_jwt", &jwt)
                .kv("trace_id", &trace);
            (Level::Debug, line, jwt)
        }
        5 | 6 => {
            let token = secrets::bearer_token(e.rng);
            let line = Logfmt::new(e.now, Level::Debug, "calling payments")
                .kv("url", "http://payments:8080/v1/charges")
                .kv("header", format!("Authorization: Bearer {token}"))
                .kv("trace_id", &trace);
            (Level::Debug, line, token)
        }
        7 => {
            let password = secrets::password(e.rng);
            let line = Logfmt::new(e.now, Level::Warn, "admin login failed")
                .kv("user", "ops")
                .kv("password", &password)
                .kv("remote_addr", "10.0.3.17");
            (Level::Warn, line, password)
        }
        _ => {
            let key = secrets::stripe_key(e.rng);
            let line = Logfmt::new(e.now, Level::Info, "stripe fallback configured")
                .kv("api_key", &key)
                .kv("region", "eu-west-1");
            (Level::Info, line, key)
        }
    };
    e.secret_line(level, line.finish(), secret);
}
