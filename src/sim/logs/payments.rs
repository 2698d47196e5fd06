//! payments: a Go-style service writing JSON lines.

use super::Emit;
use super::format::JsonLine;
use super::secrets;
use crate::sources::Level;

const CURRENCIES: &[&str] = &["EUR", "USD", "GBP"];
const ACQUIRERS: &[&str] = &["adyen", "worldpay", "stripe"];

pub(super) fn event(e: &mut Emit, level: Level) {
    let order = secrets::order_id(e.rng);
    let trace = secrets::trace_id(e.rng);
    let line = match level {
        Level::Error => error(e, &order, &trace),
        Level::Warn => warn(e, &order, &trace),
        Level::Debug => debug(e, &order, &trace),
        _ => info(e, &order, &trace),
    };
    e.line(level, line.finish());
}

fn info(e: &mut Emit, order: &str, trace: &str) -> JsonLine {
    let amount = e.rng.range(199, 48_900);
    let ms = e.duration_ms();
    let currency = *e.rng.pick(CURRENCIES);
    let acquirer = *e.rng.pick(ACQUIRERS);
    match e.rng.below(4) {
        0 | 1 => JsonLine::new(e.now, Level::Info, "charge captured")
            .str("order_id", order)
            .num("amount_cents", amount)
            .str("currency", currency)
            .str("trace_id", trace)
            .num("duration_ms", ms),
        2 => JsonLine::new(e.now, Level::Info, "charge authorised")
            .str("order_id", order)
            .num("amount_cents", amount)
            .str("acquirer", acquirer)
            .str("trace_id", trace)
            .num("duration_ms", ms),
        _ => JsonLine::new(e.now, Level::Info, "refund issued")
            .str("order_id", order)
            .str("refund_id", &format!("re_{}", e.rng.token62(14)))
            .num("amount_cents", amount / 2)
            .str("trace_id", trace),
    }
}

fn debug(e: &mut Emit, order: &str, trace: &str) -> JsonLine {
    let ms = e.duration_ms() / 4 + 1;
    match e.rng.below(3) {
        0 => JsonLine::new(e.now, Level::Debug, "db query")
            .str(
                "query",
                "SELECT id, status FROM charges WHERE order_id = $1",
            )
            .num("rows", 1)
            .num("duration_ms", ms),
        1 => JsonLine::new(e.now, Level::Debug, "idempotency key reused")
            .str("idempotency_key", &e.rng.uuid())
            .str("order_id", order),
        // A 16-digit acquirer reference that fails Luhn: must stay.
        _ => JsonLine::new(e.now, Level::Debug, "acquirer response")
            .str("order_id", order)
            .str("acquirer_ref", &secrets::not_a_card(e.rng))
            .num("status", 200)
            .str("trace_id", trace)
            .num("duration_ms", ms),
    }
}

fn warn(e: &mut Emit, order: &str, trace: &str) -> JsonLine {
    let ms = e.slow_ms();
    match e.rng.below(3) {
        0 => JsonLine::new(e.now, Level::Warn, "slow db query")
            .str("query", "UPDATE charges SET status = $2 WHERE id = $1")
            .num("duration_ms", ms)
            .str("trace_id", trace),
        1 => JsonLine::new(e.now, Level::Warn, "charge retry")
            .str("order_id", order)
            .num("attempt", e.rng.range(2, 3))
            .str("upstream", "acquirer")
            .str("reason", "timeout")
            .num("duration_ms", ms),
        _ => JsonLine::new(e.now, Level::Warn, "db pool saturated")
            .num("in_use", 20)
            .num("waiting", e.rng.range(1, 40))
            .num("wait_ms", ms / 2),
    }
}

fn error(e: &mut Emit, order: &str, trace: &str) -> JsonLine {
    let ms = e.slow_ms();
    let reason = *e.rng.pick(&[
        "acquirer returned 503 Service Unavailable",
        "context deadline exceeded",
        "db pool exhausted after 2000ms",
    ]);
    JsonLine::new(e.now, Level::Error, "charge failed")
        .str("order_id", order)
        .str("error", reason)
        .num(
            "http_status",
            if reason.contains("503") { 503 } else { 500 },
        )
        .str("trace_id", trace)
        .num("duration_ms", ms)
}

pub(super) fn secret_event(e: &mut Emit) {
    let order = secrets::order_id(e.rng);
    let trace = secrets::trace_id(e.rng);
    let (level, line, secret) = match e.rng.below(10) {
        0..=3 => {
            let email = secrets::email(e.rng);
            let line = JsonLine::new(e.now, Level::Info, "charge captured")
                .str("order_id", &order)
                .num("amount_cents", e.rng.range(199, 48_900))
                .str("customer_email", &email)
                .str("trace_id", &trace)
                .num("duration_ms", e.duration_ms());
            (Level::Info, line, email)
        }
        4 | 5 => {
            let card = secrets::card_number(e.rng);
            let line = JsonLine::new(e.now, Level::Debug, "card tokenised")
                .str("order_id", &order)
                .str("card_number", &card)
                .str("trace_id", &trace);
            (Level::Debug, line, card)
        }
        6 | 7 => {
            let token = secrets::bearer_token(e.rng);
            let line = JsonLine::new(e.now, Level::Debug, "acquirer request")
                .str("method", "POST")
                .str("url", "https://api.acquirer.example/v2/charges")
                .str("header", &format!("Authorization: Bearer {token}"))
                .str("trace_id", &trace);
            (Level::Debug, line, token)
        }
        8 => {
            let password = secrets::password(e.rng);
            let line = JsonLine::new(e.now, Level::Error, "db connection failed")
                .str(
                    "dsn",
                    &format!("postgres://payments:{password}@db:5432/payments"),
                )
                .str("error", "connection refused");
            (Level::Error, line, password)
        }
        _ => {
            let key = secrets::stripe_key(e.rng);
            let line = JsonLine::new(e.now, Level::Info, "stripe client initialised")
                .str("api_key", &key)
                .num("timeout_ms", 30_000);
            (Level::Info, line, key)
        }
    };
    e.secret_line(level, line.finish(), secret);
}
