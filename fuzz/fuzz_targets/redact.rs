//! The redactor on arbitrary input: it never panics, a second pass changes
//! nothing, a line it leaves alone comes back borrowed, `redact_into` agrees
//! with `redact`, and every reported match is an ordered, non-overlapping
//! range on character boundaries.

#![no_main]

use std::borrow::Cow;
use std::sync::LazyLock;

use breakglass::redact::{ExtraPattern, Redactor, RedactorConfig};
use libfuzzer_sys::fuzz_target;

static DEFAULT: LazyLock<Redactor> = LazyLock::new(Redactor::default);

/// A service's configuration: one built-in off, one pattern of its own.
static SERVICE: LazyLock<Redactor> = LazyLock::new(|| {
    Redactor::new(&RedactorConfig {
        disabled: vec!["email".into()],
        extra: vec![ExtraPattern {
            name: "customer_id".into(),
            regex: "cus_[A-Za-z0-9]{14}".into(),
        }],
    })
    .expect("valid config")
});

fn check(redactor: &Redactor, line: &str) {
    let once = redactor.redact(line);
    if let Cow::Owned(changed) = &once {
        assert_ne!(changed, line, "copied a line without changing it: {line:?}");
    }
    let twice = redactor.redact(&once);
    assert!(
        matches!(twice, Cow::Borrowed(_)),
        "not stable:\n  {line:?}\n→ {once:?}\n→ {twice:?}"
    );

    let mut into = String::from(">");
    redactor.redact_into(line, &mut into);
    assert_eq!(&into[1..], once.as_ref());

    let mut last_end = 0;
    for m in redactor.find_matches(line) {
        assert!(last_end <= m.start && m.start < m.end && m.end <= line.len());
        assert!(line.is_char_boundary(m.start) && line.is_char_boundary(m.end));
        last_end = m.end;
    }
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    check(&DEFAULT, &line);
    check(&SERVICE, &line);
});
