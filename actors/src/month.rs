//! Calendar months, for MODB names.

use std::fmt;

use crate::clock;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct YearMonth {
    pub year: u32,
    pub month: u32,
}

impl YearMonth {
    /// The UTC month of a Unix timestamp.
    pub fn from_unix_seconds(secs: u64) -> Self {
        // i64 holds every u64 / 86400 with room to spare.
        let (year, month, _) = civil_from_days((secs / 86_400) as i64);
        Self {
            // Only reachable ~584 billion years out; saturate rather than wrap.
            year: u32::try_from(year).unwrap_or(u32::MAX),
            month,
        }
    }

    pub fn now() -> Self {
        Self::from_unix_seconds(clock::unix_seconds())
    }

    pub fn previous(self) -> Self {
        match self.month {
            1 => Self {
                year: self.year.saturating_sub(1),
                month: 12,
            },
            month => Self {
                month: month - 1,
                ..self
            },
        }
    }

    pub fn next(self) -> Self {
        match self.month {
            12 => Self {
                year: self.year.saturating_add(1),
                month: 1,
            },
            month => Self {
                month: month + 1,
                ..self
            },
        }
    }
}

/// The UTC (year, month, day) of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's civil_from_days, on a calendar whose era starts 0000-03-01 so the
    // leap day is the last day of its year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

impl fmt::Display for YearMonth {
    /// `YYYYMM`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn ym(year: u32, month: u32) -> YearMonth {
        YearMonth { year, month }
    }

    #[test]
    fn previous_and_next_cross_years() {
        assert_eq!(ym(2026, 1).previous(), ym(2025, 12));
        assert_eq!(ym(2026, 12).next(), ym(2027, 1));
        assert_eq!(ym(2026, 6).previous().next(), ym(2026, 6));
    }

    /// Days from 1970-01-01 to `y-m-d`, by brute force over the Gregorian rules.
    fn days_from_civil(y: u32, m: u32, d: u32) -> u64 {
        let leap =
            |y: u32| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let month_len = |y: u32, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = 0u64;
        for year in 1970..y {
            days += if leap(year) { 366 } else { 365 };
        }
        for month in 1..m {
            days += month_len(y, month);
        }
        days + u64::from(d - 1)
    }

    fn at(y: u32, m: u32, d: u32) -> u64 {
        days_from_civil(y, m, d) * DAY
    }

    #[test]
    fn epoch() {
        assert_eq!(YearMonth::from_unix_seconds(0), ym(1970, 1));
    }

    #[test]
    fn known_timestamps() {
        // 2009-02-13T23:31:30Z
        assert_eq!(YearMonth::from_unix_seconds(1_234_567_890), ym(2009, 2));
        // 2001-09-09T01:46:40Z
        assert_eq!(YearMonth::from_unix_seconds(1_000_000_000), ym(2001, 9));
        // 2038-01-19T03:14:07Z, the i32 rollover
        assert_eq!(YearMonth::from_unix_seconds(2_147_483_647), ym(2038, 1));
        // 2024-02-29T12:00:00Z
        assert_eq!(YearMonth::from_unix_seconds(1_709_208_000), ym(2024, 2));
    }

    #[test]
    fn month_boundaries() {
        for (y, m) in [(2023, 1), (2023, 4), (2023, 7), (2023, 11), (2024, 3)] {
            let start = at(y, m, 1);
            assert_eq!(YearMonth::from_unix_seconds(start), ym(y, m));
            let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
            assert_eq!(YearMonth::from_unix_seconds(start - 1), ym(py, pm));
        }
    }

    #[test]
    fn year_boundary() {
        let new_year = at(2025, 1, 1);
        assert_eq!(YearMonth::from_unix_seconds(new_year - 1), ym(2024, 12));
        assert_eq!(YearMonth::from_unix_seconds(new_year), ym(2025, 1));
    }

    #[test]
    fn leap_years() {
        // 2024: ordinary leap year; 2000: divisible by 400; 2100: divisible by 100, not leap.
        assert_eq!(YearMonth::from_unix_seconds(at(2024, 2, 29)), ym(2024, 2));
        assert_eq!(
            YearMonth::from_unix_seconds(at(2024, 2, 29) + DAY - 1),
            ym(2024, 2)
        );
        assert_eq!(YearMonth::from_unix_seconds(at(2024, 3, 1)), ym(2024, 3));
        assert_eq!(YearMonth::from_unix_seconds(at(2000, 2, 29)), ym(2000, 2));
        assert_eq!(YearMonth::from_unix_seconds(at(2000, 3, 1)), ym(2000, 3));
        assert_eq!(
            YearMonth::from_unix_seconds(at(2100, 2, 28) + DAY),
            ym(2100, 3)
        );
        assert_eq!(
            YearMonth::from_unix_seconds(at(2023, 2, 28) + DAY),
            ym(2023, 3)
        );
    }

    #[test]
    fn every_month_start_1970_to_2120() {
        for y in 1970..2120 {
            for m in 1..=12 {
                let t = at(y, m, 1);
                assert_eq!(YearMonth::from_unix_seconds(t), ym(y, m), "{y}-{m}");
                assert_eq!(
                    YearMonth::from_unix_seconds(t + 27 * DAY + 86_399),
                    ym(y, m),
                    "{y}-{m}-28"
                );
            }
        }
    }

    #[test]
    fn far_future_does_not_panic() {
        let far = YearMonth::from_unix_seconds(u64::MAX);
        assert_eq!(far.year, u32::MAX);
        assert!((1..=12).contains(&far.month));
    }

    #[test]
    fn now_is_plausible() {
        let now = YearMonth::now();
        assert!(now.year >= 2024);
        assert!((1..=12).contains(&now.month));
    }

    #[test]
    fn display_is_yyyymm() {
        assert_eq!(ym(2024, 3).to_string(), "202403");
        assert_eq!(ym(2024, 12).to_string(), "202412");
        assert_eq!(ym(999, 1).to_string(), "099901");
    }

    #[test]
    fn ordering_is_chronological() {
        assert!(ym(2024, 12) < ym(2025, 1));
        assert!(ym(2025, 1) < ym(2025, 2));
    }

    #[test]
    fn civil_from_days_gives_the_day_too() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
