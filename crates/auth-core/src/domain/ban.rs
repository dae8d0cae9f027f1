use chrono::Duration;

/// How long a ban lasts, as the admin API takes it: a Go-style duration (`24h`, `1h30m`,
/// `90s`, `1.5h`) or `none` to lift a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanDuration {
    /// Lift any ban.
    None,
    /// Ban for this long from now.
    For(Duration),
}

/// Why a ban duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ban_duration must be a duration such as \"24h\", \"30m\" or \"1h30m\", or \"none\"")]
pub struct BanDurationError;

impl BanDuration {
    /// Parses `none` or a sequence of `<number><unit>` with units `ms`, `s`, `m`, `h`; the total
    /// must be positive and at most 100 years.
    pub fn parse(input: &str) -> Result<Self, BanDurationError> {
        let text = input.trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(Self::None);
        }
        let mut rest = text;
        let mut total_ms = 0f64;
        while !rest.is_empty() {
            let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or(BanDurationError)?;
            let (number, tail) = rest.split_at(number_len);
            let value: f64 = number.parse().map_err(|_| BanDurationError)?;
            let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let scale = match unit {
                "ms" => 1.0,
                "s" => 1_000.0,
                "m" => 60_000.0,
                "h" => 3_600_000.0,
                _ => return Err(BanDurationError),
            };
            total_ms += value * scale;
            rest = tail;
        }
        const MAX_MS: f64 = 100.0 * 365.25 * 24.0 * 3_600_000.0;
        if !(1.0..=MAX_MS).contains(&total_ms) {
            return Err(BanDurationError);
        }
        // Bounded above, so the conversion cannot overflow.
        #[allow(clippy::cast_possible_truncation)]
        let millis = total_ms.round() as i64;
        Duration::try_milliseconds(millis).map(Self::For).ok_or(BanDurationError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations_and_none() {
        assert_eq!(BanDuration::parse("none"), Ok(BanDuration::None));
        assert_eq!(BanDuration::parse("24h"), Ok(BanDuration::For(Duration::hours(24))));
        assert_eq!(BanDuration::parse("1h30m"), Ok(BanDuration::For(Duration::minutes(90))));
        assert_eq!(BanDuration::parse("1.5h"), Ok(BanDuration::For(Duration::minutes(90))));
        assert_eq!(BanDuration::parse("90s"), Ok(BanDuration::For(Duration::seconds(90))));
        assert_eq!(BanDuration::parse("876000h"), Ok(BanDuration::For(Duration::hours(876_000))));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in ["", "24", "h", "-1h", "1d", "0s", "1h 30m", "1..5h", "1000000h", "forever"] {
            assert_eq!(BanDuration::parse(bad), Err(BanDurationError), "{bad}");
        }
    }
}
