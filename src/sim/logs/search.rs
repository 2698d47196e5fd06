//! search: a JVM service logging through log4j's classic pattern, with the
//! stack traces that come with it.

use super::Emit;
use super::format::log4j_time;
use super::secrets;
use crate::sources::Level;

const QUERIES: &[&str] = &[
    "red shoes",
    "usb-c charger 65w",
    "winter jacket",
    "espresso machine",
    "kids lego",
    "noise cancelling headphones",
    "yoga mat",
    "4k monitor",
];

/// A failure and the frames it is thrown through, innermost first.
struct Trace {
    exception: &'static str,
    message: &'static str,
    frames: &'static [&'static str],
    cause: Option<(&'static str, &'static [&'static str])>,
}

const TRACES: &[Trace] = &[
    Trace {
        exception: "com.shop.search.QueryTimeoutException",
        message: "shard products[3] did not answer within 5000ms",
        frames: &[
            "com.shop.search.ShardClient.execute(ShardClient.java:212)",
            "com.shop.search.SearchService.search(SearchService.java:88)",
            "com.shop.search.api.SearchController.handle(SearchController.java:41)",
            "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
            "java.base/java.lang.Thread.run(Thread.java:840)",
        ],
        cause: Some((
            "java.net.SocketTimeoutException: Read timed out",
            &[
                "java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
                "java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)",
            ],
        )),
    },
    Trace {
        exception: "java.lang.IllegalStateException",
        message: "index products is read-only during snapshot",
        frames: &[
            "com.shop.search.index.IndexWriter.apply(IndexWriter.java:156)",
            "com.shop.search.index.IndexUpdater.run(IndexUpdater.java:73)",
            "java.base/java.util.concurrent.Executors$RunnableAdapter.call(Executors.java:572)",
        ],
        cause: None,
    },
    Trace {
        exception: "com.shop.search.QueryParseException",
        message: "unbalanced quote at position 12",
        frames: &[
            "com.shop.search.query.QueryParser.parse(QueryParser.java:97)",
            "com.shop.search.SearchService.search(SearchService.java:61)",
            "com.shop.search.api.SearchController.handle(SearchController.java:41)",
        ],
        cause: Some((
            "java.lang.StringIndexOutOfBoundsException: index 12, length 12",
            &["java.base/java.lang.String.charAt(String.java:1555)"],
        )),
    },
];

fn header(e: &Emit, level: Level, logger: &str, msg: &str) -> String {
    let word = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
        _ => "INFO",
    };
    format!("{} [{word}] {logger} - {msg}", log4j_time(e.now))
}

pub(super) fn event(e: &mut Emit, level: Level) {
    let q = *e.rng.pick(QUERIES);
    let trace = secrets::trace_id(e.rng);
    let msg = match level {
        Level::Error => return error(e, q, &trace),
        Level::Warn => format!(
            "slow query q=\"{q}\" took_ms={} shard=products[{}] trace_id={trace}",
            e.slow_ms(),
            e.rng.below(6)
        ),
        Level::Debug => format!(
            "cache miss key=q:{} request_id={}",
            e.rng.hex_id(12),
            e.rng.uuid()
        ),
        _ if e.rng.chance(0.1) => format!(
            "reindexed products shard={} docs={} took_ms={}",
            e.rng.below(6),
            e.rng.range(200, 5000),
            e.rng.range(300, 4000)
        ),
        _ => format!(
            "query ok q=\"{q}\" hits={} took_ms={} trace_id={trace}",
            e.rng.range(0, 2400),
            e.duration_ms()
        ),
    };
    let logger = match level {
        Level::Debug => "c.s.cache.ResultCache",
        _ if msg.starts_with("reindexed") => "c.s.index.IndexUpdater",
        _ => "c.s.SearchService",
    };
    let text = header(e, level, logger, &msg);
    e.line(level, text);
}

fn error(e: &mut Emit, q: &str, trace_id: &str) {
    let trace = e.rng.pick(TRACES);
    let text = header(
        e,
        Level::Error,
        "c.s.SearchService",
        &format!("query failed q=\"{q}\" trace_id={trace_id}"),
    );
    e.line(Level::Error, text);
    e.continuation(format!("{}: {}", trace.exception, trace.message));
    for frame in trace.frames {
        e.continuation(format!("\tat {frame}"));
    }
    if let Some((cause, frames)) = trace.cause {
        e.continuation(format!("Caused by: {cause}"));
        for frame in frames {
            e.continuation(format!("\tat {frame}"));
        }
        e.continuation(format!("\t... {} more", trace.frames.len()));
    }
}

pub(super) fn secret_event(e: &mut Emit) {
    let q = *e.rng.pick(QUERIES);
    let (level, logger, msg, secret) = match e.rng.below(8) {
        0..=2 => {
            let email = secrets::email(e.rng);
            let msg = format!("personalised query q=\"{q}\" user={email}");
            (Level::Info, "c.s.SearchService", msg, email)
        }
        3 | 4 => {
            let token = secrets::bearer_token(e.rng);
            let msg = format!("incoming headers: Authorization: Bearer {token}");
            (Level::Debug, "c.s.api.AuthFilter", msg, token)
        }
        5 | 6 => {
            let password = secrets::password(e.rng);
            let msg =
                format!("connecting to http://elastic:{password}@es-1:9200 failed, retrying in 2s");
            (Level::Warn, "c.s.EsClient", msg, password)
        }
        _ => {
            let password = secrets::password(e.rng);
            let msg = format!("reloaded datasource config user=search password={password}");
            (Level::Info, "c.s.config.ConfigLoader", msg, password)
        }
    };
    let text = header(e, level, logger, &msg);
    e.secret_line(level, text, secret);
}
