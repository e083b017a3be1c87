//! The report as one self-contained HTML page: inline SVG and a few lines
//! of script, nothing fetched. The scatter puts each process window at its
//! bytes out against bytes in (log axes), shades AN0145's corner (less
//! than half as much back as sent), and marks alerted windows; hovering a
//! point names its process (an SVG `<title>`).

use super::load::{AlertRow, Loaded, Talker, Window};
use rules::format::bytes;
use std::fmt::Write;

/// HTML-escapes text.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}\
th{cursor:pointer;background:#f4f4f4}td.n{text-align:right}.card{border:1px solid #ccc;border-left:6px solid #c33;\
padding:8px 12px;margin:8px 0}.card.medium{border-left-color:#e90}.card.low{border-left-color:#999}\
.point{fill:#36c;fill-opacity:.6}.point.alerted{fill:#d22;fill-opacity:.9;stroke:#600}.corner{fill:#fdd}";

const SORT: &str = "document.querySelectorAll('table.sortable th').forEach((th,i)=>th.onclick=()=>{\
const t=th.closest('table'),b=t.tBodies[0],r=[...b.rows],d=th.dataset.dir==='a'?-1:1;th.dataset.dir=d>0?'a':'d';\
r.sort((x,y)=>{const a=x.cells[i].dataset.v??x.cells[i].textContent,c=y.cells[i].dataset.v??y.cells[i].textContent;\
const p=parseFloat(a),q=parseFloat(c);return(isNaN(p)||isNaN(q)?a.localeCompare(c):p-q)*d});r.forEach(x=>b.appendChild(x))});";

/// The whole page.
pub fn page(d: &Loaded) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>procflow report</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>procflow report</h1><p>{} process windows, {} alerts.</p>",
        d.windows.len(),
        d.alerts.len()
    );
    h.push_str("<h2>Bytes out against bytes in, per process window</h2>");
    h.push_str(&scatter(&d.windows));
    h.push_str("<h2>Alerts</h2>");
    if d.alerts.is_empty() {
        h.push_str("<p>None.</p>");
    }
    for a in &d.alerts {
        h.push_str(&card(a));
    }
    h.push_str("<h2>Who talked to whom</h2>");
    h.push_str(&talkers(&d.talkers));
    if let Some(c) = &d.coverage {
        let _ = write!(
            h,
            "<h2>Attribution</h2><p id=\"coverage\">{} flows, {} with their client's process ({:.1} %).</p>",
            c.flows,
            c.client_attributed,
            c.percent()
        );
        if !c.blind.is_empty() {
            h.push_str("<table class=\"sortable\" id=\"blind\"><thead><tr><th>client without a process</th><th>flows</th><th>bytes sent</th></tr></thead><tbody>");
            for (ip, flows, b) in &c.blind {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"n\">{flows}</td><td class=\"n\" data-v=\"{b}\">{}</td></tr>",
                    esc(ip),
                    bytes(*b)
                );
            }
            h.push_str("</tbody></table>");
        }
    }
    let _ = writeln!(h, "<script>{SORT}</script></body></html>");
    h
}

/// Log10 of a byte count, at least 0 (1 byte).
fn lg(v: u64) -> f64 {
    (v.max(1) as f64).log10()
}

/// The scatter: one circle per window.
fn scatter(ws: &[Window]) -> String {
    let (w, hgt, pad) = (640.0, 420.0, 50.0);
    let max = ws
        .iter()
        .map(|w| lg(w.bytes_out).max(lg(w.bytes_in)))
        .fold(1.0_f64, f64::max)
        .ceil()
        // 10^19 is the largest power of ten a u64 holds (the axis labels).
        .min(19.0);
    let x = |v: u64| pad + lg(v) / max * (w - 2.0 * pad);
    let y = |v: u64| hgt - pad - lg(v) / max * (hgt - 2.0 * pad);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"scatter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\">"
    );
    // AN0145's corner: in < out / 2, below the line through (out, out/2).
    let top = 10f64.powf(max) as u64;
    let _ = write!(
        s,
        "<polygon class=\"corner\" points=\"{},{} {},{} {},{}\"><title>less than half as much back as sent (AN0145's low response)</title></polygon>",
        x(2),
        y(1),
        x(top),
        y(top / 2),
        x(top),
        y(1)
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"#000\"/>",
        hgt - pad,
        w - pad,
        hgt - pad,
        hgt - pad
    );
    for d in 0..=(max as u32) {
        let v = 10u64.pow(d);
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text><text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            x(v),
            hgt - pad + 14.0,
            bytes(v),
            pad - 4.0,
            y(v) + 3.0,
            bytes(v)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">bytes out</text><text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">bytes in</text>",
        w / 2.0,
        hgt - 10.0,
        hgt / 2.0,
        hgt / 2.0
    );
    for p in ws {
        let class = if p.alerted { "point alerted" } else { "point" };
        let r = if p.alerted { 7 } else { 4 };
        let _ = write!(
            s,
            "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" data-process=\"{}\" data-host=\"{}\"><title>{} on {} ({}): {} out, {} in, {} connections</title></circle>",
            x(p.bytes_out),
            y(p.bytes_in),
            esc(&p.executable),
            esc(&p.host),
            esc(&p.executable),
            esc(&p.host),
            esc(&p.start),
            bytes(p.bytes_out),
            bytes(p.bytes_in),
            p.connections
        );
    }
    s.push_str("</svg>");
    s
}

/// An alert card, with its connections on a timeline.
fn card(a: &AlertRow) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<div class=\"card {}\"><b>{} {}</b> · risk {} · {} on <b>{}</b> → {}<ul>",
        esc(&a.severity),
        esc(&a.rule),
        esc(&a.severity),
        a.risk_score,
        esc(&a.executable),
        esc(&a.host),
        esc(&a.destination)
    );
    for r in &a.reasons {
        let _ = write!(s, "<li>{}</li>", esc(r));
    }
    s.push_str("</ul>");
    s.push_str(&timeline(a));
    s.push_str("</div>");
    s
}

/// Seconds of an RFC 3339 time within its day (enough to place a flow in
/// its window).
fn second_of_day(t: &str) -> Option<f64> {
    let time = t.split_once('T')?.1;
    let mut p = time.trim_end_matches('Z').split(':');
    let (h, m, s) = (p.next()?, p.next()?, p.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// A tick per listed connection, across the span of its starts.
fn timeline(a: &AlertRow) -> String {
    let times: Vec<f64> = a
        .flows
        .iter()
        .filter_map(|(t, _)| second_of_day(t))
        .collect();
    let (Some(lo), Some(hi)) = (
        times.iter().copied().reduce(f64::min),
        times.iter().copied().reduce(f64::max),
    ) else {
        return String::new();
    };
    let span = (hi - lo).max(1.0);
    let mut s = format!(
        "<svg class=\"timeline\" width=\"600\" height=\"24\"><title>{} connections over {:.0} s</title>",
        times.len(),
        hi - lo
    );
    for t in &times {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"2\" y2=\"22\" stroke=\"#c33\"/>",
            5.0 + (t - lo) / span * 590.0
        );
    }
    s.push_str("</svg>");
    s
}

fn talkers(ts: &[Talker]) -> String {
    let mut s = String::from(
        "<table class=\"sortable\" id=\"talkers\"><thead><tr><th>host</th><th>process</th><th>connections</th><th>bytes out</th><th>bytes in</th><th>in/out</th><th>internal destinations</th><th>external destinations</th></tr></thead><tbody>",
    );
    let list = |v: &[(String, u64)]| {
        v.iter()
            .take(5)
            .map(|(d, b)| format!("{} ({})", esc(d), bytes(*b)))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for t in ts {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\">{:.3}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.host),
            esc(&t.executable),
            t.connections,
            t.bytes_out,
            bytes(t.bytes_out),
            t.bytes_in,
            bytes(t.bytes_in),
            t.ratio(),
            list(&t.internal),
            list(&t.external)
        );
    }
    s.push_str("</tbody></table>");
    s
}
