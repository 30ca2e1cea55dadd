//! The Avro `date` logical type (`int`, days since 1970-01-01) ↔ [`chrono::NaiveDate`].
//!
//! The one conversion of `DecisionRequest.as_of` and the registry's effective dates: every crate
//! and service converts with these two functions instead of its own epoch arithmetic.

use chrono::{Datelike, NaiveDate};

/// Days from 0001-01-01 (day 1 of the common era, chrono's `num_days_from_ce` = 1) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The date `days` after 1970-01-01 (before it when negative), or `None` when it lies outside
/// the dates [`NaiveDate`] can represent (about ±262,000 years; an Avro `int` reaches further).
pub fn from_avro_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_DAYS_FROM_CE)?)
}

/// Days from 1970-01-01 to `date` (negative before it), the Avro `date` value. Every
/// [`NaiveDate`] has one: its range is well inside an `i32` of days.
pub fn to_avro_days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_DAYS_FROM_CE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn the_epoch_is_day_zero() {
        assert_eq!(from_avro_days(0), Some(ymd(1970, 1, 1)));
        assert_eq!(to_avro_days(ymd(1970, 1, 1)), 0);
        assert_eq!(to_avro_days(NaiveDate::default()), 0);
    }

    #[test]
    fn days_after_and_before_the_epoch() {
        assert_eq!(from_avro_days(1), Some(ymd(1970, 1, 2)));
        assert_eq!(from_avro_days(-1), Some(ymd(1969, 12, 31)));
        assert_eq!(from_avro_days(-719_162), Some(ymd(1, 1, 1)));
        assert_eq!(from_avro_days(19_723), Some(ymd(2024, 1, 1)));
        assert_eq!(to_avro_days(ymd(2024, 1, 1)), 19_723);
        assert_eq!(to_avro_days(ymd(1969, 12, 31)), -1);
        assert_eq!(to_avro_days(ymd(-1, 12, 31)), -719_529);
    }

    #[test]
    fn out_of_range_days_are_none() {
        assert_eq!(from_avro_days(i32::MAX), None);
        assert_eq!(from_avro_days(i32::MIN), None);
        let max = to_avro_days(NaiveDate::MAX);
        let min = to_avro_days(NaiveDate::MIN);
        assert_eq!(from_avro_days(max), Some(NaiveDate::MAX));
        assert_eq!(from_avro_days(min), Some(NaiveDate::MIN));
        assert_eq!(from_avro_days(max + 1), None);
        assert_eq!(from_avro_days(min - 1), None);
    }

    #[test]
    fn round_trips_and_agrees_with_date_arithmetic() {
        let epoch = ymd(1970, 1, 1);
        for days in [-1_000_000, -36_525, -1, 0, 1, 365, 20_000, 2_932_896] {
            let date = from_avro_days(days).expect("in range");
            assert_eq!(to_avro_days(date), days);
            assert_eq!((date - epoch).num_days(), i64::from(days));
        }
    }
}
