//! The chart for the docs: a grouped bar chart, one group per pair, one bar per
//! throughput figure (medians, Gbit/s), with its value written on it. Plain SVG written
//! by hand: a few rectangles and labels do not need a plotting library.
//!
//! The ceiling (the bare veth) is written under the title rather than drawn: it is
//! several times faster than any tunnel and would flatten their bars.

use super::pair::Pair;
use super::report::Outcome;
use crate::axis::{nice_ceiling, trim};

/// The bars of each group: figure, legend, colour.
const SERIES: [(&str, &str, &str); 3] = [
    ("tcp1_gbps", "TCP, 1 stream", "#4e79a7"),
    ("tcp4_gbps", "TCP, 4 streams", "#f28e2b"),
    ("udp_received_gbps", "UDP received (unlimited)", "#59a14f"),
];
const BAR: f64 = 24.0;
const GAP: f64 = 28.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 72.0;
const PLOT_HEIGHT: f64 = 260.0;
/// Room for the pair names, slanted under the groups.
const BOTTOM: f64 = 110.0;
const TICKS: usize = 5;
/// Width of one legend entry.
const LEGEND: f64 = 170.0;

pub fn chart(outcomes: &[Outcome], runs: usize) -> String {
    let medians = |o: &Outcome| -> Vec<f64> {
        SERIES
            .iter()
            .map(|(figure, _, _)| o.median(figure).unwrap_or(0.0))
            .collect()
    };
    let measured = outcomes.iter().filter(|o| o.succeeded() > 0);
    let groups: Vec<(String, Vec<f64>)> = measured
        .clone()
        .filter(|o| o.pair != Pair::Ceiling)
        .map(|o| (o.pair.name(), medians(o)))
        .collect();
    let ceiling = measured
        .clone()
        .find(|o| o.pair == Pair::Ceiling)
        .map(|o| {
            let values: Vec<String> = SERIES
                .iter()
                .zip(medians(o))
                .map(|((_, legend, _), v)| format!("{legend} {v:.2}"))
                .collect();
            format!(
                "Without WireGuard (the bare veth): {} Gbit/s",
                values.join(", ")
            )
        })
        .unwrap_or_default();
    let group_width = BAR * SERIES.len() as f64 + GAP;
    let width = (LEFT + RIGHT + group_width * groups.len() as f64).max(LEFT + LEGEND * 3.5);
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let largest = groups.iter().flat_map(|(_, v)| v.iter().copied());
    let top = nice_ceiling(largest.fold(0.0, f64::max));
    let y = |value: f64| TOP + PLOT_HEIGHT * (1.0 - value / top);
    let base = y(0.0);

    let mut svg = String::new();
    let mut add = |s: String| svg.push_str(&s);
    add(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Throughput through \
         the tunnel (median of {runs} run(s))</text>\n\
         <text x=\"{LEFT}\" y=\"36\" fill=\"#555\">{ceiling}</text>\n"
    ));
    for (i, (_, legend, colour)) in SERIES.iter().enumerate() {
        let x = LEFT + LEGEND * i as f64;
        add(format!(
            "<rect x=\"{x}\" y=\"46\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"55\">{legend}</text>\n",
            x + 14.0
        ));
    }
    for tick in 0..=TICKS {
        let value = top * tick as f64 / TICKS as f64;
        let ty = y(value);
        add(format!(
            "<line x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            width - RIGHT,
            LEFT - 6.0,
            ty + 4.0,
            trim(value)
        ));
    }
    add(format!(
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">Gbit/s</text>\n\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base:.1}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"black\"/>\n",
        TOP + PLOT_HEIGHT / 2.0,
        width - RIGHT
    ));
    for (g, (name, values)) in groups.iter().enumerate() {
        let left = LEFT + GAP / 2.0 + group_width * g as f64;
        for (i, value) in values.iter().enumerate() {
            let x = left + BAR * i as f64;
            let bar_top = y(*value);
            add(format!(
                "<rect x=\"{x:.1}\" y=\"{bar_top:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
                 fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" \
                 text-anchor=\"middle\">{value:.2}</text>\n",
                BAR - 2.0,
                base - bar_top,
                SERIES[i].2,
                x + BAR / 2.0 - 1.0,
                bar_top - 3.0
            ));
        }
        let label_x = left + BAR * SERIES.len() as f64 / 2.0;
        add(format!(
            "<text transform=\"translate({label_x:.1} {:.1}) rotate(-30)\" \
             text-anchor=\"end\">{name}</text>\n",
            base + 14.0
        ));
    }
    add(format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">pair (server end-client end)</text>\n</svg>\n",
        LEFT + (width - LEFT - RIGHT) / 2.0,
        height - 8.0
    ));
    svg
}
