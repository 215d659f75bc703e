//! Working calendar and deadline arithmetic (thời hạn giải quyết).
//!
//! Processing time is counted in working minutes inside the province's
//! working windows (default 07:00–11:30 and 13:30–17:00, UTC+7), skipping
//! Saturdays, Sundays and holidays, honouring make-up working days (ngày
//! làm bù). All instants are UTC milliseconds since the Unix epoch; all
//! calendar reasoning happens in local time at the fixed offset.
//!
//! Working windows are calendar data, not constants: a province may set
//! seasonal hours (giờ làm việc mùa hè, mùa đông: [`SeasonFile`]) and a
//! center whose hours differ its own windows and Saturday-morning
//! reception ([`CenterFile`]); [`WorkingCalendar::for_unit`] gives a
//! center's calendar. A working day stays eight hours in every set of
//! windows (DOMAIN.md "Deadlines").
//!
//! Every function here is pure: the caller supplies the instant.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;
/// One working day is eight working hours.
pub const WORKING_DAY_MINUTES: u32 = 8 * 60;
/// Upper bound on how far deadline arithmetic walks, so a bad input can
/// never loop for long: ten years of days.
pub const WALK_DAYS_MAX: u32 = 3_660;
/// The earliest instant a dossier may name (1900-01-01T00:00Z): old
/// records moved in by technicians go back decades, not centuries.
pub const INSTANT_MIN_MS: i64 = -2_208_988_800_000;
/// The latest instant a dossier may name (3000-01-01T00:00Z).
pub const INSTANT_MAX_MS: i64 = 32_503_680_000_000;
/// The UTC offsets a calendar may set, in minutes (−12:00 to +14:00, the
/// offsets in use on Earth).
pub const UTC_OFFSET_MINUTES: std::ops::RangeInclusive<i32> = -720..=840;

/// Whether an instant (UTC ms) lies in the range a dossier may name:
/// every date computed from one stays well inside the calendar's range.
pub fn in_range(at_ms: i64) -> bool {
    (INSTANT_MIN_MS..INSTANT_MAX_MS).contains(&at_ms)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("working window {0} is not of the form HH:MM-HH:MM with start before end")]
    BadWindow(String),
    #[error("working windows overlap or are out of order")]
    WindowsOverlap,
    #[error("the calendar has no working window")]
    NoWindows,
    #[error("working windows add up to {0} minutes a day; a working day must be 480")]
    WindowsNotEightHours(u32),
    #[error("date {0} is not YYYY-MM-DD")]
    BadDate(String),
    #[error("{0} is both a holiday and a make-up working day")]
    HolidayAndMakeUp(NaiveDate),
    #[error("deadline lies more than {WALK_DAYS_MAX} days ahead")]
    TooFar,
    #[error("calendar JSON: {0}")]
    Json(String),
    #[error("UTC offset {0} minutes is outside −720..840 (−12:00 to +14:00)")]
    BadOffset(i32),
    #[error("season start {0} is not MM-DD, or two seasons start on it")]
    BadSeason(String),
    #[error("center {0}: {1}")]
    BadCenter(String, String),
}

/// Most windows a working day may have.
pub const WINDOWS_PER_DAY_MAX: usize = 6;

/// A half-open working window `[start, end)` in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_min: u32,
    pub end_min: u32,
}

/// The province-wide working calendar (lịch làm việc): windows, holidays
/// (ngày nghỉ lễ, Tết) and make-up working days (ngày làm bù).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    version: String,
    utc_offset_minutes: i32,
    /// The windows in force: the province's, or the center's of
    /// [`WorkingCalendar::for_unit`].
    hours: Hours,
    /// Centers whose hours differ, by unit code.
    centers: BTreeMap<String, (Hours, Option<Window>)>,
    /// The Saturday-morning reception of the center this calendar is for.
    saturday_reception: Option<Window>,
    same_day_cutoff_min: u32,
    holidays: BTreeMap<NaiveDate, String>,
    make_up_days: BTreeMap<NaiveDate, String>,
}

/// The serialized form of a calendar, as provinces publish it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CalendarFile {
    pub version: String,
    #[serde(default = "default_offset")]
    pub utc_offset_minutes: i32,
    /// `["07:00-11:30", "13:30-17:00"]`
    pub windows: Vec<String>,
    /// Seasonal hours replacing `windows` from a day of each year.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seasons: Vec<SeasonFile>,
    /// Centers whose hours differ from the province's, by unit code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub centers: BTreeMap<String, CenterFile>,
    /// Local time after which a same-day procedure moves to the next
    /// working day, `"15:00"`.
    #[serde(default = "default_cutoff")]
    pub same_day_cutoff: String,
    /// Where the dates come from (the government's announcements).
    #[serde(default)]
    pub sources: String,
    pub holidays: Vec<DatedEntry>,
    pub make_up_days: Vec<DatedEntry>,
}

/// Working hours from a day of each year (`from`, "MM-DD") until the next
/// season starts: summer and winter hours (giờ làm việc mùa hè, mùa đông),
/// which several provinces set by decision of the provincial People's
/// Committee. Each set of windows makes eight hours.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeasonFile {
    pub from: String,
    pub windows: Vec<String>,
}

/// A center whose hours differ from the province's: its own windows or
/// seasons (either replaces the province's), and the Saturday-morning
/// reception many urban wards offer (`"07:30-11:30"`). A dossier received
/// on a Saturday still counts its time from the next working day's first
/// window: Saturday reception opens the desk, not the working week
/// (Bộ luật Lao động 2019 art. 105 and the five-day week of public
/// bodies, Quyết định 188/1999/QĐ-TTg).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CenterFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seasons: Vec<SeasonFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturday_reception: Option<String>,
}

/// A set of working windows and the seasons that replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hours {
    windows: Vec<Window>,
    /// By (month, day) of the first day, in order.
    seasons: Vec<((u32, u32), Vec<Window>)>,
}

impl Hours {
    fn parse(windows: &[String], seasons: &[SeasonFile]) -> Result<Hours, CalendarError> {
        let windows = parse_windows(windows)?;
        let mut parsed = Vec::new();
        for season in seasons {
            let bad = || CalendarError::BadSeason(season.from.clone());
            let (m, d) = season.from.split_once('-').ok_or_else(bad)?;
            let (m, d): (u32, u32) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
            // Any day of a leap year, so 02-29 is one.
            NaiveDate::from_ymd_opt(2024, m, d).ok_or_else(bad)?;
            if season.from.len() != 5 || parsed.iter().any(|(k, _)| *k == (m, d)) {
                return Err(bad());
            }
            parsed.push(((m, d), parse_windows(&season.windows)?));
        }
        parsed.sort_by_key(|(k, _)| *k);
        Ok(Hours { windows, seasons: parsed })
    }

    /// The windows of `date`: its season's (the last to start on or before
    /// it, that year or, before the first, the year before), or the default.
    fn on(&self, date: NaiveDate) -> &[Window] {
        let key = (date.month(), date.day());
        match self.seasons.iter().rev().find(|(from, _)| *from <= key).or(self.seasons.last()) {
            Some((_, w)) => w,
            None => &self.windows,
        }
    }
}

/// Parses a day's windows: in order, not overlapping, eight hours in all.
fn parse_windows(list: &[String]) -> Result<Vec<Window>, CalendarError> {
    let mut windows = Vec::new();
    for w in list {
        let bad = || CalendarError::BadWindow(w.clone());
        let (a, b) = w.split_once('-').ok_or_else(bad)?;
        windows.push(parse_window(a, b).ok_or_else(bad)?);
    }
    if windows.is_empty() {
        return Err(CalendarError::NoWindows);
    }
    if windows.len() > WINDOWS_PER_DAY_MAX || windows.windows(2).any(|p| p[0].end_min > p[1].start_min) {
        return Err(CalendarError::WindowsOverlap);
    }
    let total: u32 = windows.iter().map(|w| w.end_min - w.start_min).sum();
    if total != WORKING_DAY_MINUTES {
        return Err(CalendarError::WindowsNotEightHours(total));
    }
    Ok(windows)
}

fn parse_window(a: &str, b: &str) -> Option<Window> {
    let (start_min, end_min) = (parse_hhmm(a)?, parse_hhmm(b)?);
    (start_min < end_min).then_some(Window { start_min, end_min })
}

fn default_offset() -> i32 {
    7 * 60
}
fn default_cutoff() -> String {
    "15:00".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatedEntry {
    pub date: String,
    pub name: String,
}

/// How a procedure's processing time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    WorkingDays,
    WorkingHours,
    CalendarDays,
}

impl TimeUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::WorkingDays => "working_days",
            TimeUnit::WorkingHours => "working_hours",
            TimeUnit::CalendarDays => "calendar_days",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "working_days" => Some(TimeUnit::WorkingDays),
            "working_hours" => Some(TimeUnit::WorkingHours),
            "calendar_days" => Some(TimeUnit::CalendarDays),
            _ => None,
        }
    }
}

/// What the deadline calculation needs to know of a procedure case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingTime {
    pub amount: u32,
    pub unit: TimeUnit,
    /// Same-day procedure (giải quyết trong ngày): due at the end of the
    /// receipt day, or of the next working day when received after the
    /// cut-off.
    pub same_day: bool,
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h < 24 && m < 60 && s.trim().len() == 5).then_some(h * 60 + m)
}

pub fn parse_date(s: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| CalendarError::BadDate(s.to_string()))
}

const BUILTIN_CALENDAR: &str = include_str!("../data/calendar-vn.json");

impl WorkingCalendar {
    /// The national calendar of holidays and make-up days that ships with
    /// motcua; a province replaces it with its own signed calendar.
    pub fn builtin() -> Self {
        Self::from_json(BUILTIN_CALENDAR).expect("built-in calendar is valid")
    }

    pub fn from_json(text: &str) -> Result<Self, CalendarError> {
        let file: CalendarFile = serde_json::from_str(text).map_err(|e| CalendarError::Json(e.to_string()))?;
        Self::from_file(&file)
    }

    pub fn from_file(file: &CalendarFile) -> Result<Self, CalendarError> {
        if !UTC_OFFSET_MINUTES.contains(&file.utc_offset_minutes) {
            return Err(CalendarError::BadOffset(file.utc_offset_minutes));
        }
        let hours = Hours::parse(&file.windows, &file.seasons)?;
        let mut centers = BTreeMap::new();
        for (unit, c) in &file.centers {
            let bad = |e: CalendarError| CalendarError::BadCenter(unit.clone(), e.to_string());
            if !crate::codes::is_unit_code(unit) {
                return Err(CalendarError::BadCenter(unit.clone(), "not a unit code".into()));
            }
            let own = if c.windows.is_empty() && c.seasons.is_empty() {
                hours.clone()
            } else if c.windows.is_empty() {
                // Seasons alone: the province's windows outside them.
                Hours { seasons: Hours::parse(&file.windows, &c.seasons).map_err(bad)?.seasons, ..hours.clone() }
            } else {
                Hours::parse(&c.windows, &c.seasons).map_err(bad)?
            };
            let saturday = match &c.saturday_reception {
                None => None,
                Some(w) => {
                    let window = w.split_once('-').and_then(|(a, b)| parse_window(a, b));
                    Some(window.ok_or_else(|| bad(CalendarError::BadWindow(w.clone())))?)
                }
            };
            centers.insert(unit.clone(), (own, saturday));
        }
        let cutoff =
            parse_hhmm(&file.same_day_cutoff).ok_or_else(|| CalendarError::BadWindow(file.same_day_cutoff.clone()))?;
        let mut holidays = BTreeMap::new();
        for h in &file.holidays {
            holidays.insert(parse_date(&h.date)?, h.name.clone());
        }
        let mut make_up_days = BTreeMap::new();
        for m in &file.make_up_days {
            let d = parse_date(&m.date)?;
            if holidays.contains_key(&d) {
                return Err(CalendarError::HolidayAndMakeUp(d));
            }
            make_up_days.insert(d, m.name.clone());
        }
        Ok(WorkingCalendar {
            version: file.version.clone(),
            utc_offset_minutes: file.utc_offset_minutes,
            hours,
            centers,
            saturday_reception: None,
            same_day_cutoff_min: cutoff,
            holidays,
            make_up_days,
        })
    }

    /// Minute after local midnight at which the working day ends (the end
    /// of its last window) outside any season.
    pub fn day_end_minute(&self) -> u32 {
        self.hours.windows.last().map_or(17 * 60, |w| w.end_min)
    }

    /// Minute after local midnight at which `date`'s working day ends.
    pub fn day_end_minute_on(&self, date: NaiveDate) -> u32 {
        self.last_end(date)
    }

    /// The calendar of the center of `unit`: the province's with the
    /// center's own hours when the calendar names it.
    pub fn for_unit(&self, unit: &str) -> WorkingCalendar {
        let mut c = self.clone();
        if let Some((hours, saturday)) = self.centers.get(unit) {
            c.hours = hours.clone();
            c.saturday_reception = *saturday;
        }
        c
    }

    /// The windows of `date`'s working day (its season's, if any).
    pub fn windows_on(&self, date: NaiveDate) -> &[Window] {
        self.hours.on(date)
    }

    /// The Saturday-morning reception hours of this calendar's center.
    pub fn saturday_reception(&self) -> Option<Window> {
        self.saturday_reception
    }

    pub fn utc_offset_minutes(&self) -> i32 {
        self.utc_offset_minutes
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn holidays(&self) -> impl Iterator<Item = (&NaiveDate, &String)> {
        self.holidays.iter()
    }

    pub fn make_up_days(&self) -> impl Iterator<Item = (&NaiveDate, &String)> {
        self.make_up_days.iter()
    }

    fn offset_ms(&self) -> i64 {
        self.utc_offset_minutes as i64 * MINUTE_MS
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, at_ms: i64) -> NaiveDate {
        local_date_at(at_ms, self.utc_offset_minutes)
    }

    /// Minutes after local midnight of an instant (fractional minutes are
    /// kept in the millisecond result of other functions, not here).
    fn local_ms_of_day(&self, at_ms: i64) -> i64 {
        (at_ms + self.offset_ms()).rem_euclid(DAY_MS)
    }

    /// The UTC instant of a local date and minute of day.
    pub fn instant(&self, date: NaiveDate, minute_of_day: u32) -> i64 {
        let days = date.signed_duration_since(epoch_date()).num_days();
        days * DAY_MS + minute_of_day as i64 * MINUTE_MS - self.offset_ms()
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.make_up_days.contains_key(&date) {
            return true;
        }
        if self.holidays.contains_key(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    pub fn next_working_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let mut d = date;
        for _ in 0..WALK_DAYS_MAX {
            d = d.succ_opt().ok_or(CalendarError::TooFar)?;
            if self.is_working_day(d) {
                return Ok(d);
            }
        }
        Err(CalendarError::TooFar)
    }

    fn first_start(&self, date: NaiveDate) -> u32 {
        self.windows_on(date)[0].start_min
    }

    fn last_end(&self, date: NaiveDate) -> u32 {
        let w = self.windows_on(date);
        w[w.len() - 1].end_min
    }

    /// The instant from which processing time starts to count: inside a
    /// window it is the instant itself; before the morning window, at
    /// lunch, after the afternoon window or on a day off, it is the start
    /// of the next window on a working day.
    pub fn normalize_receipt(&self, at_ms: i64) -> Result<i64, CalendarError> {
        let date = self.local_date(at_ms);
        if self.is_working_day(date) {
            let ms = self.local_ms_of_day(at_ms);
            for w in self.windows_on(date) {
                let (s, e) = (w.start_min as i64 * MINUTE_MS, w.end_min as i64 * MINUTE_MS);
                if ms < s {
                    return Ok(self.instant(date, w.start_min));
                }
                if ms < e {
                    return Ok(at_ms);
                }
            }
        }
        let next = self.next_working_day(date)?;
        Ok(self.instant(next, self.first_start(next)))
    }

    /// Adds `minutes` working minutes to `from`, walking the windows of
    /// working days. A deadline that lands exactly on a window's end stays
    /// there (17:00 the same day, not 07:00 the next).
    pub fn add_working_minutes(&self, from_ms: i64, minutes: u32) -> Result<i64, CalendarError> {
        let mut t = self.normalize_receipt(from_ms)?;
        let mut left = minutes as i64 * MINUTE_MS;
        if left == 0 {
            return Ok(t);
        }
        for _ in 0..(WALK_DAYS_MAX as usize * WINDOWS_PER_DAY_MAX) {
            let date = self.local_date(t);
            let ms = self.local_ms_of_day(t);
            let w = self
                .windows_on(date)
                .iter()
                .find(|w| ms >= w.start_min as i64 * MINUTE_MS && ms < w.end_min as i64 * MINUTE_MS)
                .expect("normalized instant lies inside a window");
            let room = w.end_min as i64 * MINUTE_MS - ms;
            if left <= room {
                return Ok(t + left);
            }
            left -= room;
            t = self.normalize_receipt(self.instant(date, w.end_min))?;
        }
        Err(CalendarError::TooFar)
    }

    /// Working minutes that elapse between two instants (0 if `to <= from`).
    pub fn working_minutes_between(&self, from_ms: i64, to_ms: i64) -> Result<u32, CalendarError> {
        if to_ms <= from_ms {
            return Ok(0);
        }
        let mut total_ms: i64 = 0;
        let mut date = self.local_date(from_ms);
        let last = self.local_date(to_ms);
        let mut walked = 0;
        while date <= last {
            if walked > WALK_DAYS_MAX {
                return Err(CalendarError::TooFar);
            }
            if self.is_working_day(date) {
                for w in self.windows_on(date) {
                    let s = self.instant(date, w.start_min).max(from_ms);
                    let e = self.instant(date, w.end_min).min(to_ms);
                    if e > s {
                        total_ms += e - s;
                    }
                }
            }
            date = date.succ_opt().ok_or(CalendarError::TooFar)?;
            walked += 1;
        }
        Ok((total_ms / MINUTE_MS) as u32)
    }

    /// The appointment (ngày hẹn trả kết quả) for a dossier received at
    /// `received_ms`.
    pub fn due_at(&self, received_ms: i64, time: ProcessingTime) -> Result<i64, CalendarError> {
        if time.same_day {
            let date = self.local_date(received_ms);
            let minute = (self.local_ms_of_day(received_ms) / MINUTE_MS) as u32;
            let day = if self.is_working_day(date) && minute < self.same_day_cutoff_min {
                date
            } else {
                self.next_working_day(date)?
            };
            return Ok(self.instant(day, self.last_end(day)));
        }
        match time.unit {
            TimeUnit::WorkingDays => {
                self.add_working_minutes(received_ms, time.amount.saturating_mul(WORKING_DAY_MINUTES))
            }
            TimeUnit::WorkingHours => self.add_working_minutes(received_ms, time.amount.saturating_mul(60)),
            TimeUnit::CalendarDays => {
                if time.amount > WALK_DAYS_MAX {
                    return Err(CalendarError::TooFar);
                }
                let start = self.normalize_receipt(received_ms)?;
                let end = start + time.amount as i64 * DAY_MS;
                self.roll_to_working_day(end)
            }
        }
    }

    /// Keeps the clock time of `at_ms` but moves it forward to the next
    /// working day when it falls on a day off.
    fn roll_to_working_day(&self, at_ms: i64) -> Result<i64, CalendarError> {
        let date = self.local_date(at_ms);
        if self.is_working_day(date) {
            return Ok(at_ms);
        }
        let next = self.next_working_day(date)?;
        let days = next.signed_duration_since(date).num_days();
        Ok(at_ms + days * DAY_MS)
    }

    /// The appointment after the clock was paused between `paused_ms` and
    /// `resumed_ms` (supplement in pause mode, financial obligation): the
    /// working time spent waiting for the citizen is added to it.
    pub fn shift_for_pause(
        &self,
        due_ms: i64,
        unit: TimeUnit,
        paused_ms: i64,
        resumed_ms: i64,
    ) -> Result<i64, CalendarError> {
        match unit {
            TimeUnit::CalendarDays => self.roll_to_working_day(due_ms + (resumed_ms - paused_ms).max(0)),
            _ => {
                let waited = self.working_minutes_between(paused_ms, resumed_ms)?;
                if waited == 0 {
                    return Ok(due_ms);
                }
                self.add_working_minutes(due_ms, waited)
            }
        }
    }
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// Local date of an instant at a fixed UTC offset.
/// Total: an instant beyond the dates chrono can name gives its first or
/// last date (dossiers name instants [`in_range`] only).
pub fn local_date_at(at_ms: i64, utc_offset_minutes: i32) -> NaiveDate {
    let days = at_ms.saturating_add(utc_offset_minutes as i64 * MINUTE_MS).div_euclid(DAY_MS);
    let date = if days >= 0 {
        epoch_date().checked_add_days(chrono::Days::new(days as u64))
    } else {
        epoch_date().checked_sub_days(chrono::Days::new(days.unsigned_abs()))
    };
    date.unwrap_or(if days >= 0 { NaiveDate::MAX } else { NaiveDate::MIN })
}

#[cfg(test)]
mod tests;
