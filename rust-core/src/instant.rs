//! Instants as the core reads and prints them: RFC 3339 date-times and dates, to the second, on the
//! proleptic Gregorian calendar (Howard Hinnant's days-from-civil algorithms; no time crate).

/// Seconds since the epoch of a date (`YYYY-MM-DD`: the end of that day, UTC) or an RFC 3339
/// date-time (`T` or a space, optional seconds and fraction, then `Z`, `±HH:MM` or `±HHMM`; a
/// `[Region/City]` suffix, as Java prints zoned date-times, is dropped). A date-time without a
/// zone is refused: Kestra's `date()` formats in the worker's zone, so reading it as UTC would
/// silently pick another backup.
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.split_once('[').map_or(text, |(head, zone)| if zone.ends_with(']') { head } else { "" });
    let (date, time) = match text.len() {
        10 => (text, None),
        n if n > 11 && matches!(text.as_bytes()[10], b'T' | b't' | b' ') => (&text[..10], Some(&text[11..])),
        _ => return None,
    };
    let num = |s: &str| -> Option<i64> { (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten() };
    let (y, m, d) = (num(&date[..4])?, num(&date[5..7])?, num(&date[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day = days_from_civil(y, m, d) * 86_400;
    let Some(time) = time else { return Some(day + 86_399) };
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let mut parts = clock.split(':');
    let h = num(parts.next()?)?;
    let min = num(parts.next()?)?;
    let sec = match parts.next() {
        Some(s) => num(s.split_once('.').map_or(s, |(whole, fraction)| if num(fraction).is_some() { whole } else { "" }))?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let offset = match zone {
        "" => return None,
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits = zone[1..].replace(':', "");
            if digits.len() != 4 && digits.len() != 2 {
                return None;
            }
            let (oh, om) = (num(&digits[..2])?, if digits.len() == 4 { num(&digits[2..])? } else { 0 });
            if oh > 18 || om > 59 {
                return None;
            }
            sign * (oh * 3_600 + om * 60)
        }
    };
    Some(day + h * 3_600 + min * 60 + sec - offset)
}

/// `2026-11-20T18:00:00Z` for seconds since the epoch.
pub fn rfc3339(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

/// `2026-11-20T18:00:00.123Z` for milliseconds since the epoch, as Kestra prints instants.
pub fn rfc3339_millis(ms: i64) -> String {
    let seconds = rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Seconds of an ISO-8601 duration as Java's `Duration` prints and parses it: `P[nD][T[nH][nM][n[.f]S]]`
/// (`P1D`, `PT24H`, `PT0S`); fractions of a second are dropped. None for anything else or a
/// negative duration.
pub fn parse_duration(text: &str) -> Option<i64> {
    let rest = text.trim().strip_prefix(['P', 'p'])?;
    let (days, time) = match rest.split_once(['T', 't']) {
        Some((days, time)) if !time.is_empty() => (days, time),
        Some(_) => return None,
        None => (rest, ""),
    };
    if days.is_empty() && time.is_empty() {
        return None;
    }
    let mut total = 0i64;
    for (part, units) in [(days, &[('D', 86_400)][..]), (time, &[('H', 3_600), ('M', 60), ('S', 1)][..])] {
        let mut part = part;
        for (unit, seconds) in units {
            if let Some((number, after)) = part.split_once([*unit, unit.to_ascii_lowercase()]) {
                let whole = if *unit == 'S' { number.split_once('.').map_or(number, |(w, f)| if f.bytes().all(|b| b.is_ascii_digit()) { w } else { "x" }) } else { number };
                if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                total = total.checked_add(whole.parse::<i64>().ok()?.checked_mul(*seconds)?)?;
                part = after;
            }
        }
        if !part.is_empty() {
            return None;
        }
    }
    Some(total)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_java_prints_them() {
        assert_eq!(parse_duration("P1D"), Some(86_400));
        assert_eq!(parse_duration("PT24H"), Some(86_400));
        assert_eq!(parse_duration("PT0S"), Some(0));
        assert_eq!(parse_duration("P1DT1H30M5.5S"), Some(86_400 + 3_600 + 1_800 + 5));
        for bad in ["", "P", "PT", "1D", "PT-1S", "PT1X", "P1H", "PT5S1H", "day"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(rfc3339_millis(1_764_583_200_123), "2025-12-01T10:00:00.123Z");
    }

    #[test]
    fn instants_in_the_accepted_forms() {
        let at = |s: &str| parse_instant(s);
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("2026-11-20T18:00:00Z"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T19:00:00+01:00"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T13:00:00-0500"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20 18:00:00.123456Z"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T19:00:00.5+01:00[Europe/Paris]"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T18:00Z"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T18:00:00"), None, "a date-time needs its zone");
        assert_eq!(at("2026-11-20"), Some(1_795_219_199), "a date alone is the end of that day, UTC");
        assert_eq!(at("2024-02-29"), Some(days_from_civil(2024, 2, 29) * 86_400 + 86_399));
        for bad in ["2026-13-01", "2026-02-30", "2025-02-29", "2026-11-20T25:00:00Z", "2026-11-20T18:00:00+1", "2026-11-20T18", "2026-11-2", "20261120", "2026-11-20X"] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_printed_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_197_600), "2026-11-20T18:00:00Z");
        for days in [-1_000, 0, 59, 60, 365, 11_016, 20_777, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
