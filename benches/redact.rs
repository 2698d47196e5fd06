//! Redaction throughput, DESIGN.md section 8 (target ≥ 200 MB/s on one
//! core with the built-in detectors on): `cargo bench --bench redact`.
//!
//! Generates a realistic ~100 MB log in memory (seeded, so every run sees
//! the same bytes): nginx access lines, logfmt and JSON application lines,
//! Java-style lines with stack traces and a Go panic now and then, full of
//! timestamps, UUIDs, trace ids, order ids that fail Luhn, IP addresses,
//! versions and durations; about 3 % of the lines carry a secret (e-mail,
//! card, bearer token, JWT, password, DSN password, AWS key, IBAN, GitHub
//! token). Then, on this one thread:
//!
//! 1. the floor: splitting the text into lines and touching each
//!    (`lines()` + length), what any per-line processing costs at least;
//! 2. redaction: `Redactor::redact` on every line, output length summed.
//!
//! Each is the best of three passes. MB are 10^6 bytes. The ratio is
//! redaction throughput over floor throughput. It also checks that every
//! seeded secret line was changed, and fails (exit 1) naming the ones
//! that were not, so a fast but blind redactor gives no figure.

#[path = "support/mod.rs"]
mod support;

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use breakglass::redact::{Kind, Redactor};

const TARGET_BYTES: usize = 100 * 1000 * 1000;
const SECRET_PERCENT: u64 = 3;
const PASSES: usize = 3;

/// [`support::splitmix`] with the helpers the log lines need.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        support::splitmix(&mut self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A[self.below(A.len() as u64) as usize]))
            .collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
    fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.below(256),
            self.below(256),
            self.below(256)
        )
    }
    /// A 16-digit order id that fails Luhn (so it must stay).
    fn order_id(&mut self) -> String {
        loop {
            let id = format!("4{:015}", self.below(1_000_000_000_000_000));
            if !luhn(&id) {
                return id;
            }
        }
    }
    fn card(&mut self) -> String {
        let body = format!("4{:014}", self.below(100_000_000_000_000));
        (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|c| luhn(c))
            .unwrap()
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

const PATHS: &[&str] = &[
    "/v1/orders",
    "/v1/charges",
    "/v1/customers",
    "/healthz",
    "/v1/refunds",
    "/api/cart/items",
    "/static/app.3f9a1c.js",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const MESSAGES: &[&str] = &[
    "order created",
    "charge captured",
    "cache miss, loading from db",
    "retrying upstream after connection reset by peer",
    "request completed",
    "slow query detected",
    "token refreshed for session",
    "inventory reserved",
    "webhook delivered",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "payments-client/1.42.0 (go1.22.3; linux/amd64)",
];

struct Clock {
    ms: u64,
}

impl Clock {
    fn tick(&mut self, rng: &mut Rng) -> (u64, u64, u64, u64) {
        self.ms += rng.below(40);
        let ms = self.ms % 1000;
        let s = self.ms / 1000;
        (s / 3600 % 24, s / 60 % 60, s % 60, ms)
    }
}

/// One line (or a few, for a stack trace) of ordinary traffic.
fn clean_lines(rng: &mut Rng, clock: &mut Clock, out: &mut String) {
    let (h, m, s, ms) = clock.tick(rng);
    let iso = format!("2024-05-14T{h:02}:{m:02}:{s:02}.{ms:03}Z");
    match rng.below(100) {
        0..=29 => {
            out.push_str(&format!(
                "{} - - [14/May/2024:{h:02}:{m:02}:{s:02} +0000] \"{} {}/{} HTTP/1.1\" {} {} \"-\" \"{}\" {}.{:03}\n",
                rng.ip(),
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.below(100_000),
                rng.pick(&["200", "200", "200", "201", "204", "404", "500"]),
                rng.below(20_000),
                rng.pick(AGENTS),
                rng.below(2),
                rng.below(1000),
            ));
        }
        30..=59 => {
            out.push_str(&format!(
                "ts={iso} level={} msg=\"{}\" order_id={} user_id={} request_id={} duration={}.{}ms\n",
                rng.pick(LEVELS).to_lowercase(),
                rng.pick(MESSAGES),
                rng.order_id(),
                rng.below(1_000_000),
                rng.uuid(),
                rng.below(900),
                rng.below(10),
            ));
        }
        60..=84 => {
            out.push_str(&format!(
                "{{\"ts\":\"{iso}\",\"level\":\"{}\",\"service\":\"payments\",\"version\":\"1.42.{}\",\"msg\":\"{}\",\"order_id\":\"{}\",\"amount\":{}.{:02},\"trace_id\":\"{}\",\"span_id\":\"{}\",\"latency_ms\":{}}}\n",
                rng.pick(LEVELS).to_lowercase(),
                rng.below(10),
                rng.pick(MESSAGES),
                rng.order_id(),
                rng.below(500),
                rng.below(100),
                rng.hex(32),
                rng.hex(16),
                rng.below(3000),
            ));
        }
        85..=97 => {
            out.push_str(&format!(
                "2024-05-14 {h:02}:{m:02}:{s:02},{ms:03} {} [http-nio-8080-exec-{}] c.a.p.OrderController - {} {}/{} completed in {} ms (image sha256:{})\n",
                rng.pick(LEVELS),
                rng.below(200),
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.below(100_000),
                rng.below(2000),
                rng.hex(64),
            ));
        }
        _ => {
            if rng.below(4) == 0 {
                out.push_str(&format!(
                    "panic: runtime error: index out of range [{}] with length {}\n\ngoroutine {} [running]:\nmain.(*Server).handle(0xc000{})\n\t/src/server.go:{} +0x{}\n",
                    rng.below(10),
                    rng.below(10),
                    rng.below(500),
                    rng.hex(6),
                    rng.below(400),
                    rng.hex(3),
                ));
            } else {
                out.push_str(&format!(
                    "2024-05-14 {h:02}:{m:02}:{s:02},{ms:03} ERROR [http-nio-8080-exec-{}] c.a.p.CardService - charge failed\njava.lang.IllegalStateException: upstream returned 503 after {} ms\n",
                    rng.below(200),
                    rng.below(5000),
                ));
                for frame in 0..rng.below(12) + 4 {
                    out.push_str(&format!(
                        "\tat com.acme.payments.{}.{}({}.java:{})\n",
                        rng.pick(&[
                            "CardService",
                            "OrderController",
                            "RetryTemplate",
                            "HttpClient"
                        ]),
                        rng.pick(&["validate", "charge", "execute", "doFilter", "invoke"]),
                        rng.pick(&[
                            "CardService",
                            "OrderController",
                            "RetryTemplate",
                            "HttpClient"
                        ]),
                        frame * 17 + rng.below(40),
                    ));
                }
                out.push_str(
                    "Caused by: java.net.SocketTimeoutException: Read timed out\n\t... 42 more\n",
                );
            }
        }
    }
}

/// One line that carries a secret.
fn secret_line(rng: &mut Rng, clock: &mut Clock, out: &mut String) {
    let (h, m, s, ms) = clock.tick(rng);
    let iso = format!("2024-05-14T{h:02}:{m:02}:{s:02}.{ms:03}Z");
    let line = match rng.below(9) {
        0 => format!(
            "ts={iso} level=info msg=\"receipt sent\" to=user{}@example.com order_id={}",
            rng.below(100_000),
            rng.order_id()
        ),
        1 => format!(
            "ts={iso} level=info msg=\"payment authorised\" card={} amount=49.90 currency=EUR",
            rng.card()
        ),
        2 => format!(
            "{{\"ts\":\"{iso}\",\"level\":\"debug\",\"msg\":\"outgoing request\",\"headers\":{{\"authorization\":\"Bearer {}\"}}}}",
            rng.alnum(32)
        ),
        3 => format!(
            "{iso} DEBUG validated token eyJhbGciOiJIUzI1NiJ9.eyJ{}.{} for user {}",
            rng.alnum(40),
            rng.alnum(43),
            rng.below(100_000)
        ),
        4 => format!(
            "ts={iso} level=debug msg=\"login attempt\" user=alice password={} ip={}",
            rng.alnum(12),
            rng.ip()
        ),
        5 => format!(
            "{iso} INFO db: connecting to postgres://payments:{}@db-primary.internal:5432/payments",
            rng.alnum(16)
        ),
        6 => format!(
            "{iso} ERROR s3 upload failed: InvalidAccessKeyId (key=AKIA{})",
            rng.alnum(16).to_uppercase()
        ),
        7 => format!("{iso} INFO payout scheduled iban=DE89370400440532013000 amount=1200.00"),
        _ => format!(
            "{iso} INFO ci: using installation token ghs_{} for acme/payments",
            rng.alnum(36)
        ),
    };
    out.push_str(&line);
    out.push('\n');
}

/// The log, and where each line seeded with a secret starts.
fn generate() -> (String, Vec<usize>) {
    let mut rng = Rng(0x5EED_2024_0514);
    let mut clock = Clock { ms: 0 };
    let mut text = String::with_capacity(TARGET_BYTES + 4096);
    let mut seeded = Vec::new();
    while text.len() < TARGET_BYTES {
        if rng.below(100) < SECRET_PERCENT {
            seeded.push(text.len());
            secret_line(&mut rng, &mut clock, &mut text);
        } else {
            clean_lines(&mut rng, &mut clock, &mut text);
        }
    }
    (text, seeded)
}

fn best_of<T>(passes: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..passes {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one pass"))
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let gen_start = Instant::now();
    let (text, seeded_at) = generate();
    let seeded = seeded_at.len();
    let lines = text.lines().count();
    println!(
        "generated {:.1} MB, {lines} lines, {seeded} seeded with a secret ({:.1} %), mean {:.0} bytes/line, in {:.1?}",
        text.len() as f64 / 1e6,
        seeded as f64 * 100.0 / lines as f64,
        text.len() as f64 / lines as f64,
        gen_start.elapsed()
    );

    let (floor_time, floor_sum) = best_of(PASSES, || {
        let mut n = 0usize;
        for line in black_box(text.as_str()).lines() {
            n += black_box(line).len();
        }
        n
    });
    black_box(floor_sum);

    let redactor = Redactor::default();
    let (redact_time, (out_bytes, changed)) = best_of(PASSES, || {
        let mut out_bytes = 0usize;
        let mut changed = 0usize;
        for line in black_box(text.as_str()).lines() {
            let out = redactor.redact(line);
            if matches!(out, Cow::Owned(_)) {
                changed += 1;
            }
            out_bytes += black_box(&out).len();
        }
        (out_bytes, changed)
    });

    // Markers per kind over the whole output, and a check that no seeded
    // line went through unchanged.
    let mut per_kind: Vec<(Kind, usize)> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
    for line in text.lines() {
        if let Cow::Owned(out) = redactor.redact(line) {
            for (kind, n) in per_kind.iter_mut() {
                *n += out.matches(kind.marker()).count();
            }
        }
    }
    let kinds: Vec<String> = per_kind
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();

    let floor = mb_per_s(text.len(), floor_time);
    let redaction = mb_per_s(text.len(), redact_time);
    println!(
        "floor (lines + touch):   {floor:>8.0} MB/s  {:>6.1} M lines/s  {floor_time:.2?} per pass",
        lines as f64 / 1e6 / floor_time.as_secs_f64()
    );
    println!(
        "redaction (default):     {redaction:>8.0} MB/s  {:>6.1} M lines/s  {redact_time:.2?} per pass",
        lines as f64 / 1e6 / redact_time.as_secs_f64()
    );
    println!(
        "lines changed: {changed} (seeded: {seeded}); output {:.1} MB; markers: {}",
        out_bytes as f64 / 1e6,
        kinds.join(" ")
    );
    // A fast but blind redactor must not produce a figure.
    let missed: Vec<&str> = seeded_at
        .iter()
        .filter_map(|&at| text[at..].lines().next())
        .filter(|line| matches!(redactor.redact(line), Cow::Borrowed(_)))
        .collect();
    if !missed.is_empty() {
        eprintln!(
            "{} seeded lines came through unchanged, e.g.:",
            missed.len()
        );
        for line in missed.iter().take(5) {
            eprintln!("  {line}");
        }
        std::process::exit(1);
    }
    println!(
        "SUMMARY redaction: {redaction:.0} MB/s (floor {floor:.0} MB/s, ratio {:.2})",
        redaction / floor
    );
}
