//! Chart geometry for server-rendered SVG: the templates draw what these
//! structs describe, so every label passes through the templates' escaping.

use chrono::{DateTime, Duration, Utc};

use crate::analytics::Hour;
use crate::domain::events::EventWindow;

/// A bar chart of taps per hour.
#[derive(Debug, Clone)]
pub struct HourChart {
    /// View-box width.
    pub width: u32,
    /// View-box height.
    pub height: u32,
    /// Bars.
    pub bars: Vec<Bar>,
    /// X-axis labels.
    pub ticks: Vec<Tick>,
    /// Largest value (the top of the scale).
    pub max: i64,
}

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Tooltip (`<title>`).
    pub title: String,
}

/// An axis label.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Position.
    pub x: f64,
    /// Text.
    pub label: String,
}

const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 170.0;

/// Taps per hour from `from` to `to`, hours without taps drawn as zero.
pub fn hours(rows: &[Hour], from: DateTime<Utc>, to: DateTime<Utc>) -> HourChart {
    let width = 720u32;
    let start =
        from.date_naive().and_hms_opt(0, 0, 0).map_or(from, |d| d.and_utc()).max(from - Duration::hours(1));
    let hours = ((to - start).num_hours().clamp(1, 24 * 31)) as usize;
    let mut values = vec![0i64; hours];
    for row in rows {
        let index = (row.hour - start).num_hours();
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| values.get_mut(i)) {
            *slot += row.taps;
        }
    }
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let slot = f64::from(width) / hours as f64;
    let bars = values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .map(|(i, v)| {
            let h = (PLOT_BOTTOM - PLOT_TOP) * (*v as f64) / (max as f64);
            let at = start + Duration::hours(i as i64);
            Bar {
                x: i as f64 * slot + 1.0,
                y: PLOT_BOTTOM - h,
                w: (slot - 2.0).max(1.0),
                h,
                title: format!("{} — {v} taps", at.format("%d %b %H:00")),
            }
        })
        .collect();
    let every = (hours / 8).max(1);
    let ticks = (0..hours)
        .step_by(every)
        .map(|i| {
            let at = start + Duration::hours(i as i64);
            Tick {
                x: i as f64 * slot,
                label: if hours > 48 {
                    at.format("%d %b").to_string()
                } else {
                    at.format("%H:00").to_string()
                },
            }
        })
        .collect();
    HourChart { width, height: 190, bars, ticks, max }
}

/// The schedule as a timeline.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// View-box width.
    pub width: u32,
    /// Windows.
    pub windows: Vec<Bar>,
    /// Where "now" is, if inside the span.
    pub now_x: Option<f64>,
    /// Start label.
    pub start: String,
    /// End label.
    pub end: String,
}

/// Windows placed on a line from the first start to the last end (and now).
pub fn timeline(windows: &[EventWindow], now: DateTime<Utc>) -> Option<Timeline> {
    let first = windows.iter().map(|w| w.starts_at).min()?;
    let last = windows.iter().map(|w| w.ends_at).max()?;
    let span = (last - first).num_seconds().max(1) as f64;
    let width = 720u32;
    let x = |t: DateTime<Utc>| ((t - first).num_seconds() as f64 / span) * f64::from(width);
    Some(Timeline {
        width,
        windows: windows
            .iter()
            .map(|w| Bar {
                x: x(w.starts_at),
                y: 8.0,
                w: (x(w.ends_at) - x(w.starts_at)).max(2.0),
                h: 28.0,
                title: format!(
                    "{} {} → {}",
                    if w.label.is_empty() { "window" } else { &w.label },
                    w.starts_at.format("%d %b %H:%M"),
                    w.ends_at.format("%d %b %H:%M UTC")
                ),
            })
            .collect(),
        now_x: (now >= first && now <= last).then(|| x(now)),
        start: first.format("%d %b %H:%M UTC").to_string(),
        end: last.format("%d %b %H:%M UTC").to_string(),
    })
}
