//! The demo's timeline as a hand-written SVG: one tick per ARP probe
//! (answered: short green, lost: tall red) over time, and a vertical marker
//! per event. Pure: it takes numbers and returns text.

use std::fmt::Write as _;

/// One probe on the plot: send time (ms on the timeline) and its fate.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    pub at_ms: f64,
    pub answered: bool,
}

/// A vertical marker: time (ms on the timeline), label, colour.
#[derive(Debug, Clone)]
pub struct Marker {
    pub at_ms: f64,
    pub label: String,
    pub color: &'static str,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the plot; `title` goes on top, time runs left to right from the
/// first tick or marker to the last.
pub fn render(title: &str, ticks: &[Tick], markers: &[Marker]) -> String {
    const W: f64 = 1000.0;
    const H: f64 = 340.0;
    const L: f64 = 60.0;
    const R: f64 = 30.0;
    const BASE: f64 = 250.0;
    let times = ticks.iter().map(|t| t.at_ms).chain(markers.iter().map(|m| m.at_ms));
    let (mut t0, mut t1) = times.fold((f64::MAX, f64::MIN), |(a, b), t| (a.min(t), b.max(t)));
    if t0 > t1 {
        (t0, t1) = (0.0, 1.0);
    }
    if t1 - t0 < 1.0 {
        t1 = t0 + 1.0;
    }
    let x = |t: f64| L + (t - t0) / (t1 - t0) * (W - L - R);
    let mut o = String::new();
    let _ = writeln!(o, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#);
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(o, r#"<text x="{L}" y="22" font-size="15" font-weight="bold">{}</text>"#, esc(title));
    let answered = ticks.iter().filter(|t| t.answered).count();
    let _ = writeln!(
        o,
        r##"<text x="{L}" y="40" fill="#444">ARP probes every 10 ms: {} sent, {answered} answered (short green), {} lost (tall red)</text>"##,
        ticks.len(),
        ticks.len() - answered
    );
    // Axis with a tick every "nice" step.
    let _ = writeln!(o, r##"<line x1="{L}" y1="{BASE}" x2="{}" y2="{BASE}" stroke="#333"/>"##, W - R);
    let span = t1 - t0;
    let step = [10.0, 20.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0].into_iter().find(|s| span / s <= 12.0).unwrap_or(10000.0);
    let mut t = (t0 / step).ceil() * step;
    while t <= t1 {
        let xx = x(t);
        let _ = writeln!(o, r##"<line x1="{xx:.1}" y1="{BASE}" x2="{xx:.1}" y2="{}" stroke="#333"/>"##, BASE + 5.0);
        let _ = writeln!(o, r#"<text x="{xx:.1}" y="{}" text-anchor="middle">{t:.0}</text>"#, BASE + 19.0);
        t += step;
    }
    let _ = writeln!(o, r#"<text x="{}" y="{}" text-anchor="middle">ms since ovs-vswitchd was killed</text>"#, (L + W - R) / 2.0, BASE + 38.0);
    for tk in ticks {
        let xx = x(tk.at_ms);
        let (h, c) = if tk.answered { (18.0, "#2a9d3a") } else { (60.0, "#d62828") };
        let _ = writeln!(o, r#"<line x1="{xx:.1}" y1="{BASE}" x2="{xx:.1}" y2="{:.1}" stroke="{c}" stroke-width="1.5"/>"#, BASE - h);
    }
    for (i, m) in markers.iter().enumerate() {
        let xx = x(m.at_ms);
        let ly = 62.0 + 16.0 * (i % 6) as f64;
        let _ = writeln!(o, r#"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{BASE}" stroke="{}" stroke-dasharray="4 3"/>"#, ly + 4.0, m.color);
        let anchor = if xx > W * 0.7 { "end" } else { "start" };
        let dx = if anchor == "end" { -3.0 } else { 3.0 };
        let _ = writeln!(o, r#"<text x="{:.1}" y="{ly}" fill="{}" text-anchor="{anchor}">{} ({:.1} ms)</text>"#, xx + dx, m.color, esc(&m.label), m.at_ms);
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ticks_and_markers() {
        let ticks = [Tick { at_ms: -10.0, answered: true }, Tick { at_ms: 0.0, answered: false }];
        let s = render("t<1>", &ticks, &[Marker { at_ms: 0.0, label: "switch down".into(), color: "#000" }]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("t&lt;1&gt;") && s.contains("switch down (0.0 ms)"));
        assert_eq!(s.matches("#d62828").count(), 1);
    }

    #[test]
    fn empty_input_still_renders() {
        assert!(render("x", &[], &[]).contains("</svg>"));
    }
}
