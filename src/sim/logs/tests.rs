use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::redact::Redactor;
use crate::sim::timeline::Timeline;
use crate::sources::{parse_level, parse_timestamp};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 16, 40, 1).unwrap()
}

/// Every record `service` writes over a whole demo cycle, sampled so each
/// phase contributes.
fn cycle_of(service: Service, seed: u64) -> Vec<LogRecord> {
    let timeline = Timeline::demo(seed);
    let mut generator = LogGen::new(service, seed);
    let mut out = Vec::new();
    for i in 0..6000 {
        let secs = i as f64 * 0.1;
        let now = start() + chrono::Duration::milliseconds(i * 100);
        generator.next_records(now, &timeline.state(service, secs), &mut out);
    }
    out
}

fn all_records() -> Vec<(Service, LogRecord)> {
    let mut all = Vec::new();
    for seed in [1, 2] {
        for service in Service::ALL {
            all.extend(cycle_of(service, seed).into_iter().map(|r| (service, r)));
        }
    }
    all
}

#[test]
fn every_secret_line_loses_its_secret_to_the_redactor() {
    let redactor = Redactor::default();
    let mut failures = Vec::new();
    let mut secrets = 0;
    for (_, r) in all_records() {
        let Some(secret) = &r.secret else { continue };
        secrets += 1;
        let out = redactor.redact(&r.text);
        if out.contains(secret.as_str()) || !out.contains("[REDACTED:") {
            failures.push(format!("{}\n  -> {out}", r.text));
        }
    }
    assert!(secrets > 100, "only {secrets} secret lines");
    failures.truncate(10);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn lines_without_a_secret_come_back_untouched() {
    let redactor = Redactor::default();
    let mut failures = Vec::new();
    for (_, r) in all_records() {
        if r.secret.is_none()
            && let Cow::Owned(out) = redactor.redact(&r.text)
        {
            failures.push(format!("{}\n  -> {out}", r.text));
        }
    }
    failures.truncate(10);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn secrets_are_a_few_percent_of_lines_and_every_kind_shows_up() {
    let redactor = Redactor::default();
    let records = all_records();
    let secret_lines = records.iter().filter(|(_, r)| r.secret.is_some()).count();
    let share = secret_lines as f64 / records.len() as f64;
    assert!((0.01..0.06).contains(&share), "secret share {share}");
    let mut kinds = std::collections::BTreeSet::new();
    for (_, r) in &records {
        if r.secret.is_some() {
            let out = redactor.redact(&r.text);
            for marked in out.split("[REDACTED:").skip(1) {
                kinds.insert(marked.split(']').next().unwrap_or_default().to_string());
            }
        }
    }
    for want in [
        "email",
        "card",
        "bearer",
        "jwt",
        "url_password",
        "secret",
        "stripe_key",
    ] {
        assert!(kinds.contains(want), "no {want} among {kinds:?}");
    }
}

#[test]
fn the_level_parser_reads_the_level_each_line_was_written_at() {
    let mut failures = Vec::new();
    for (service, r) in all_records() {
        let got = parse_level(&r.text);
        match r.level {
            Some(want) if got != want => {
                failures.push(format!("{service:?} want {want} got {got}: {}", r.text))
            }
            // Stack-trace lines must not pass for a level of their own.
            None if got != Level::Unknown => failures.push(format!(
                "{service:?} continuation read as {got}: {}",
                r.text
            )),
            _ => {}
        }
    }
    failures.truncate(10);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_headed_line_carries_the_time_it_was_written() {
    let timeline = Timeline::demo(3);
    let now = start() + chrono::Duration::milliseconds(456);
    for service in Service::ALL {
        let mut generator = LogGen::new(service, 3);
        let mut out = Vec::new();
        for i in 0..2000 {
            generator.next_records(now, &timeline.state(service, i as f64 * 0.3), &mut out);
        }
        for r in out.iter().filter(|r| r.level.is_some()) {
            assert_eq!(parse_timestamp(&r.text), Some(now), "{}", r.text);
        }
    }
}

#[test]
fn the_mix_of_levels_follows_the_incident() {
    let timeline = Timeline::demo(4);
    let share = |secs: f64, level: Level| {
        let mut generator = LogGen::new(Service::Payments, 4);
        let state = timeline.state(Service::Payments, secs);
        let mut out = Vec::new();
        for _ in 0..4000 {
            generator.next_records(start(), &state, &mut out);
        }
        out.iter().filter(|r| r.level == Some(level)).count() as f64 / out.len() as f64
    };
    assert!(share(30.0, Level::Error) < 0.03);
    assert!(share(180.0, Level::Error) > 0.2);
    assert!(share(120.0, Level::Warn) > 3.0 * share(30.0, Level::Warn));
    assert!(share(30.0, Level::Debug) > 0.05);
}

#[test]
fn search_writes_stack_traces_with_a_cause() {
    let timeline = Timeline::demo(5);
    let mut generator = LogGen::new(Service::Search, 5);
    let mut state = timeline.state(Service::Search, 0.0);
    // Errors on every event: what matters here is their shape.
    state.error_ratio = 1.0;
    let mut out = String::new();
    for _ in 0..50 {
        generator.write_lines(start(), &state, &mut out);
    }
    assert!(out.lines().any(|l| l.starts_with("\tat com.shop.search.")));
    assert!(out.lines().any(|l| l.starts_with("Caused by: ")));
    assert!(
        out.lines()
            .any(|l| l.contains(" [ERROR] c.s.SearchService - query failed"))
    );
}

#[test]
fn a_seed_gives_the_same_lines_and_another_seed_others() {
    let a = cycle_of(Service::Checkout, 9);
    assert_eq!(a, cycle_of(Service::Checkout, 9));
    assert_ne!(a, cycle_of(Service::Checkout, 10));
}
