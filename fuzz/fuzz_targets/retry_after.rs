//! `Retry-After` parsing: never panics on any bytes; delta-seconds are
//! taken exactly (saturating when too long for a `u64`); an HTTP-date,
//! as servers write it, is the time from now until it (zero once passed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall::http::parse_retry_after;
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|input: (u32, u64, &[u8])| {
    let (now_secs, date_secs, value) = input;
    let now = UNIX_EPOCH + Duration::from_secs(now_secs.into());

    // Any bytes: an answer or `None`, never a panic.
    let parsed = parse_retry_after(value, now);
    if let Ok(text) = std::str::from_utf8(value) {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let secs = text.parse::<u64>().unwrap_or(u64::MAX);
            assert_eq!(parsed, Some(Duration::from_secs(secs)), "{text:?}");
        }
    }

    // A date as a server formats it (years 1970..=9999, what HTTP-dates
    // can say), with the whitespace a header may carry around it.
    let date = UNIX_EPOCH + Duration::from_secs(date_secs % 253_402_300_800);
    let header = format!(" {} ", httpdate::fmt_http_date(date));
    let expected = date.duration_since(now).unwrap_or(Duration::ZERO);
    assert_eq!(
        parse_retry_after(header.as_bytes(), now),
        Some(expected),
        "{header:?} at {now_secs}"
    );
});
