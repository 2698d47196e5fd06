//! Secrets the gateway must redact, and the harmless values that look
//! like them and must stay, as real services happen to log them.

use crate::sim::rng::{BASE64URL, SimRng};

/// Cards every payments team has seen in its logs.
const TEST_CARDS: &[&str] = &[
    "4111 1111 1111 1111",
    "4242424242424242",
    "5555-5555-5555-4444",
];

const FIRST: &[&str] = &[
    "maria", "jan", "aiko", "liam", "fatima", "noah", "chen", "olga", "diego", "priya", "tom",
    "amara",
];
const LAST: &[&str] = &[
    "garcia", "kowalski", "tanaka", "obrien", "haddad", "smith", "wei", "ivanova", "lopez",
    "sharma", "becker", "okafor",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "gmail.com",
    "fastmail.fm",
    "mail.co.uk",
    "outlook.de",
    "shop-customers.io",
];

pub fn email(rng: &mut SimRng) -> String {
    let (first, last, domain) = (rng.pick(FIRST), rng.pick(LAST), rng.pick(DOMAINS));
    match rng.below(3) {
        0 => format!("{first}.{last}@{domain}"),
        1 => format!("{}{last}{}@{domain}", &first[..1], rng.range(1, 99)),
        _ => format!("{first}+orders@{domain}"),
    }
}

/// A Luhn-valid Visa or Mastercard number, as written by whoever logged it:
/// solid, or in groups of four split by spaces or dashes.
pub fn card_number(rng: &mut SimRng) -> String {
    if rng.chance(0.2) {
        return rng.pick(TEST_CARDS).to_string();
    }
    let mut digits: Vec<u8> = match rng.below(3) {
        0 => vec![4],
        1 => vec![5, rng.range(1, 5) as u8],
        // Mastercard's 2-series, 2221–2720.
        _ => (rng.range(2221, 2720) as u32)
            .to_string()
            .bytes()
            .map(|b| b - b'0')
            .collect(),
    };
    while digits.len() < 15 {
        digits.push(rng.below(10) as u8);
    }
    digits.push(luhn_check_digit(&digits));
    let separator = *rng.pick(&["", " ", "-"]);
    group(&digits, separator)
}

/// Sixteen digits starting with 4 that fail the Luhn check: an order or
/// reference number, which a careless detector would take for a card.
pub fn not_a_card(rng: &mut SimRng) -> String {
    let mut digits: Vec<u8> = vec![4];
    while digits.len() < 15 {
        digits.push(rng.below(10) as u8);
    }
    digits.push((luhn_check_digit(&digits) + 1 + rng.below(9) as u8) % 10);
    group(&digits, "")
}

/// The digit that makes `body` followed by it pass the Luhn check.
pub fn luhn_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            // The check digit will sit to the right, so doubling starts at
            // the body's last digit.
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_ok(number: &str) -> bool {
    let digits: Vec<u8> = number
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    match digits.split_last() {
        Some((&check, body)) => luhn_check_digit(body) == check,
        None => false,
    }
}

fn group(digits: &[u8], sep: &str) -> String {
    let mut s = String::with_capacity(digits.len() + 3);
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push_str(sep);
        }
        s.push(char::from(b'0' + d));
    }
    s
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(rng: &mut SimRng) -> String {
    rng.token62(40)
}

/// A signed HS256 JWT for a customer session (the signature is random;
/// nobody verifies it).
pub fn jwt(rng: &mut SimRng, subject: &str, expires_unix: i64) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = format!(r#"{{"sub":"{subject}","scope":"checkout","exp":{expires_unix}}}"#);
    format!(
        "{header}.{}.{}",
        base64url(claims.as_bytes()),
        rng.base64url(43)
    )
}

pub fn password(rng: &mut SimRng) -> String {
    let stem = rng.pick(&["S3cr3t", "Pa55w0rd", "hunter2", "Tr0ub4dor", "correcthorse"]);
    format!("{stem}-{}", rng.token62(10))
}

pub fn stripe_key(rng: &mut SimRng) -> String {
    format!("sk_live_{}", rng.token62(24))
}

/// `ord_` and 14 base62 characters, as the order service mints them.
pub fn order_id(rng: &mut SimRng) -> String {
    format!("ord_{}", rng.token62(14))
}

/// W3C trace-context trace id.
pub fn trace_id(rng: &mut SimRng) -> String {
    rng.hex_id(32)
}

/// Unpadded base64url, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(BASE64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cards_pass_luhn_and_look_alikes_do_not() {
        let mut rng = SimRng::new(11);
        for _ in 0..2000 {
            let card = card_number(&mut rng);
            assert!(luhn_ok(&card), "{card}");
            let n = card.bytes().filter(u8::is_ascii_digit).count();
            assert_eq!(n, 16, "{card}");
            let other = not_a_card(&mut rng);
            assert!(!luhn_ok(&other), "{other}");
            assert_eq!(other.len(), 16);
        }
        for known in TEST_CARDS {
            assert!(luhn_ok(known), "{known}");
        }
    }

    #[test]
    fn jwts_have_a_json_header_and_three_segments() {
        let t = jwt(&mut SimRng::new(1), "usr_1", 1_800_000_000);
        assert!(
            t.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ"),
            "{t}"
        );
        assert_eq!(t.split('.').count(), 3);
    }

    #[test]
    fn base64url_matches_the_rfc_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
        ] {
            assert_eq!(base64url(input.as_bytes()), want);
        }
    }
}
