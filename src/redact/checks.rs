//! Checksums that tell a card number or an IBAN from any other run of
//! digits: Luhn (ISO/IEC 7812) and IBAN mod-97 (ISO 13616), with the IBAN
//! length of every country that issues them.
//!
//! Pure arithmetic over ASCII bytes; never allocates, never panics.

/// Luhn over the ASCII digits of `digits` (other bytes are skipped, so a
/// grouped number can be passed as written).
pub(super) fn luhn_ok(digits: &[u8]) -> bool {
    // Every second digit from the right, doubled, digits summed: a table,
    // as a branch on `d * 2 > 9` mispredicts half the time on random digits.
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    let mut double = false;
    for &b in digits.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let d = usize::from(b - b'0');
        sum += if double { DOUBLED[d] } else { d as u32 };
        double = !double;
    }
    sum.is_multiple_of(10)
}

/// Whether `digits` (ASCII digits only) has the prefix and length of a
/// card of a network that issues them: Visa, Mastercard, American Express,
/// Discover, JCB, Diners Club, UnionPay, Maestro, Mir, RuPay, Troy. Numbers
/// starting 0, 1, 7 or 9 (epoch timestamps, most ids) are never cards.
pub(super) fn card_network_ok(digits: &[u8]) -> bool {
    let len = digits.len();
    let prefix = |n: usize| -> u32 {
        digits[..n.min(len)]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    match digits.first() {
        // Visa
        Some(b'4') => matches!(len, 13 | 16 | 19),
        // Mastercard 2221-2720, Mir 2200-2204
        Some(b'2') => match prefix(4) {
            2221..=2720 => len == 16,
            2200..=2204 => (16..=19).contains(&len),
            _ => false,
        },
        Some(b'3') => match prefix(2) {
            34 | 37 => len == 15,                          // American Express
            35 => (16..=19).contains(&len),                // JCB (3528-3589), RuPay
            30 | 36 | 38 | 39 => (14..=19).contains(&len), // Diners Club
            _ => false,
        },
        Some(b'5') => match prefix(2) {
            51..=55 => len == 16,          // Mastercard
            _ => (13..=19).contains(&len), // Maestro 50, 56-59
        },
        // Discover, UnionPay, Maestro, RuPay
        Some(b'6') => (13..=19).contains(&len),
        // RuPay 81, 82
        Some(b'8') => matches!(prefix(2), 81 | 82) && len == 16,
        // Troy
        Some(b'9') => prefix(4) == 9792 && len == 16,
        _ => false,
    }
}

/// ISO 13616 mod-97 over the alphanumerics of `iban` (spaces skipped):
/// the first four characters move to the end, letters count as 10..=35,
/// and the whole number must leave 1.
pub(super) fn iban_mod97_ok(iban: &[u8]) -> bool {
    let chars = || iban.iter().copied().filter(u8::is_ascii_alphanumeric);
    let mut rem = 0u32;
    for b in chars().skip(4).chain(chars().take(4)) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            b'a'..=b'z' => (rem * 100 + u32::from(b - b'a') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// The IBAN length (country code and check digits included) of the
/// country `cc`, for the countries of the SWIFT IBAN registry.
pub(super) fn iban_length(cc: [u8; 2]) -> Option<usize> {
    let len = match &cc {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BI" => 27,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DJ" => 27,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FK" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"LY" => 25,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MN" => 20,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NI" => 28,
        b"NL" => 18,
        b"NO" => 15,
        b"OM" => 23,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"RU" => 33,
        b"SA" => 24,
        b"SC" => 31,
        b"SD" => 18,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"SO" => 23,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        b"YE" => 30,
        _ => return None,
    };
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_refuses_their_neighbours() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
            "6011111111111117",
            "4222222222222",
        ] {
            assert!(luhn_ok(card.as_bytes()), "{card}");
        }
        for other in ["4111111111111112", "5500000000000005", "1234567890123"] {
            assert!(!luhn_ok(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn only_prefixes_and_lengths_of_card_networks_count_as_cards() {
        for card in [
            "4111111111111111",
            "4222222222222",
            "5500000000000004",
            "2223000048400011",
            "378282246310005",
            "36227206271667",
            "3530111333300000",
            "6011111111111117",
            "6200000000000005",
            "6759649826438453",
        ] {
            assert!(card_network_ok(card.as_bytes()), "{card}");
        }
        for other in [
            "1715677923118",     // epoch milliseconds
            "41111111111111111", // Visa has no 17-digit numbers
            "3411111111111111",  // Amex numbers have 15 digits
            "3111111111111111",
            "2100000000000000",
            "7111111111111111",
            "9111111111111111",
        ] {
            assert!(!card_network_ok(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn iban_checksum_accepts_registry_examples_and_refuses_a_typo() {
        for iban in [
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "NO9386011117947",
            "MT84MALT011000012345MTLCAST001S",
        ] {
            assert!(iban_mod97_ok(iban.as_bytes()), "{iban}");
            let solid: Vec<u8> = iban.bytes().filter(|b| *b != b' ').collect();
            assert_eq!(
                iban_length([solid[0], solid[1]]),
                Some(solid.len()),
                "{iban}"
            );
        }
        assert!(!iban_mod97_ok(b"DE89370400440532013001"));
        assert!(!iban_mod97_ok(b"DE89!70400440532013000"));
    }
}
