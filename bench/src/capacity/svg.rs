//! Grouped bar charts as plain SVG text: a handful of bars needs no plotting crate.

use crate::axis::{nice_ceiling, trim};
use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 4] = ["#3b6ea5", "#e08a2c", "#5a9e5a", "#a54a4a"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One group of bars per entry (its label, then one (series, value) per bar); series
/// are matched by position and named in the legend from the first group.
pub fn bars(title: &str, y_label: &str, groups: Vec<(String, Vec<(&str, f64)>)>) -> String {
    let max = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let top = nice_ceiling(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h * (1.0 - v.max(0.0) / top);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let right = WIDTH - RIGHT;
    for i in 0..=5 {
        let v = top * i as f64 / 5.0;
        let (line_y, text_x, text_y, text) = (y(v), LEFT - 6.0, y(v) + 4.0, trim(v));
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{right}" y1="{line_y:.1}" y2="{line_y:.1}" stroke="#ddd"/><text x="{text_x}" y="{text_y:.1}" text-anchor="end">{text}</text>"##
        );
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    let group_w = plot_w / groups.len().max(1) as f64;
    for (g, (label, bars)) in groups.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_w;
        let bar_w = group_w * 0.7 / bars.len().max(1) as f64;
        for (b, (_, v)) in bars.iter().enumerate() {
            let x = x0 + group_w * 0.15 + b as f64 * bar_w;
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                y(*v),
                bar_w - 2.0,
                TOP + plot_h - y(*v),
                COLOURS[b % COLOURS.len()],
                x + bar_w / 2.0,
                y(*v) - 4.0,
                trim(*v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + group_w / 2.0,
            TOP + plot_h + 18.0,
            escape(label)
        );
    }
    if let Some((_, bars)) = groups.first() {
        for (b, (name, _)) in bars.iter().enumerate() {
            let ly = TOP - 22.0;
            let lx = LEFT + 10.0 + b as f64 * 200.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{ly}">{}</text>"#,
                ly - 10.0,
                COLOURS[b % COLOURS.len()],
                lx + 16.0,
                escape(name)
            );
        }
    }
    let bottom = TOP + plot_h;
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="black"/><line x1="{LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="black"/>"#
    );
    s.push_str("</svg>\n");
    s
}
