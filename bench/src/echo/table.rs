//! The echo benchmark's markdown table: a line per figure, a column per server, then ours/engine
//! and ours/Node (ours divided by theirs: above 1 is better for rates, below 1 for costs).

use std::collections::BTreeMap;

use super::rows::{Figures, Row, DURATIONS, ECHO, GAME_CLIENTS, IDLE_CLIENTS, STORM_CLIENTS};
use super::servers::Kind;
use crate::figures::int;

/// `Ok(None)`: the row does not apply to that server.
pub type Outcome = Result<Option<Figures>, String>;

#[derive(Default)]
pub struct Results {
    map: BTreeMap<(Row, Kind), Outcome>,
}

impl Results {
    pub fn put(&mut self, row: Row, kind: Kind, outcome: Outcome) {
        self.map.insert((row, kind), outcome);
    }

    pub fn failed(&self, row: Row, kind: Kind) -> bool {
        matches!(self.map.get(&(row, kind)), Some(Err(_)))
    }
}

/// A cell's text and the number its ratios use.
type Cell = (String, Option<f64>);
type CellFn = Box<dyn Fn(&Figures, Kind) -> Cell>;

fn ms(us: f64) -> String {
    format!("{:.1}", us / 1000.0)
}

/// What went wrong in a run that completed: messages lost, wrong echoes, connections dropped.
fn problems(f: &Figures) -> String {
    let r = &f.report;
    let mut out = Vec::new();
    if r.lost > 0 {
        out.push(format!("{} lost", int(r.lost as f64)));
    }
    if r.bad > 0 {
        out.push(format!("{} wrong echoes", int(r.bad as f64)));
    }
    if r.dropped > 0 {
        out.push(format!("{} connections dropped", r.dropped));
    }
    if f.connected < f.wanted {
        out.push(format!("only {} of {} connected", int(f.connected as f64), int(f.wanted as f64)));
    }
    if out.is_empty() {
        String::new()
    } else {
        format!(" **({})**", out.join(", "))
    }
}

fn echo_cell(i: usize) -> CellFn {
    Box::new(move |f, _| {
        let (row, r) = (&ECHO[i], &f.report);
        let (mut text, value) = if row.size >= 64 << 10 {
            (format!("{} MB/s", int(r.mb_per_s)), r.mb_per_s)
        } else {
            (format!("{}/s", int(r.msgs_per_s)), r.msgs_per_s)
        };
        if row.window == 1 {
            text.push_str(&format!(" · {} µs", int(r.rtt_p50_us as f64)));
        }
        (text + &problems(f), Some(value))
    })
}

/// A cell from the server's frame sample; "—" for servers without frames.
fn frame_cell(show: fn(&Figures) -> Option<Cell>) -> CellFn {
    Box::new(move |f, kind| if kind.framed() { show(f).unwrap_or(("?".into(), None)) } else { ("—".into(), None) })
}

fn game_lines(row: Row, name: &str) -> Vec<(String, Row, CellFn)> {
    let mut lines: Vec<(String, Row, CellFn)> = vec![
        (
            format!("{name}: main-thread µs per frame, p50 / p99 (lower is better)"),
            row,
            frame_cell(|f| {
                let (p50, p99) = (f.get("p50_us")?, f.get("p99_us")?);
                Some((format!("{} / {}", int(p50), int(p99)), Some(p50)))
            }),
        ),
        (
            format!("{name}: frames over 16.7 ms (of frames)"),
            row,
            frame_cell(|f| Some((format!("{} of {}", int(f.get("over")?), int(f.get("frames")?)), None))),
        ),
        (
            format!("{name}: server CPU / load generator CPU (one core = 100 %)"),
            row,
            Box::new(|f, _| {
                let r = &f.report;
                (format!("{:.0} % / {:.0} %", r.server_cpu, r.generator_cpu), Some(r.server_cpu))
            }),
        ),
        (
            format!("{name}: round trip p50 / p99, ms"),
            row,
            Box::new(|f, _| {
                let r = &f.report;
                (format!("{} / {}", ms(r.rtt_p50_us as f64), ms(r.rtt_p99_us as f64)), Some(r.rtt_p50_us as f64))
            }),
        ),
        (
            format!("{name}: echoes lost (of sent)"),
            row,
            Box::new(|f, _| {
                (format!("{} of {}{}", int(f.report.lost as f64), int(f.report.sent as f64), problems(f)), None)
            }),
        ),
    ];
    if row == Row::GameBroadcast {
        lines.push((
            format!("{name}: states received (of sent)"),
            row,
            Box::new(|f, _| {
                let sent = f.get("broadcasts").unwrap_or(f64::NAN) * f.report.conns as f64;
                let got = f.report.other as f64;
                let mark = if got < sent { " **(missing)**" } else { "" };
                (format!("{} of {}{mark}", int(got), int(sent)), None)
            }),
        ));
    }
    lines
}

fn lines() -> Vec<(String, Row, CellFn)> {
    let mut lines: Vec<(String, Row, CellFn)> =
        ECHO.iter().enumerate().map(|(i, row)| (row.label.to_string(), Row::Echo(i), echo_cell(i))).collect();
    let game = format!("game tick ({} × {} × 64 B/s)", int(GAME_CLIENTS as f64), 20);
    lines.extend(game_lines(Row::Game, &game));
    lines.extend(game_lines(Row::GameBroadcast, &format!("{game} + 1 KiB state to all at 20 Hz")));
    let idle = format!("{} idle", int(IDLE_CLIENTS as f64));
    lines.push((
        format!("{idle}: µs per frame at 60 fps, p50 / p99 (lower is better)"),
        Row::Idle,
        frame_cell(|f| {
            let (p50, p99) = (f.get("p50_us")?, f.get("p99_us")?);
            Some((format!("{} / {}{}", int(p50), int(p99), problems(f)), Some(p50)))
        }),
    ));
    lines.push((
        format!("{idle}: KiB per connection (resident size grown, lower is better)"),
        Row::Idle,
        Box::new(|f, _| match f.kib_per_conn {
            Some(k) => (format!("{k:.1}{}", problems(f)), Some(k)),
            None => ("?".into(), None),
        }),
    ));
    lines.push((
        format!("storm of {} connects: open within 10 s", int(STORM_CLIENTS as f64)),
        Row::Storm,
        Box::new(|f, _| (format!("{} ({:.1} s)", int(f.connected as f64), f.connect_s), Some(f.connected as f64))),
    ));
    lines
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() && b > 0.0 && a / b < 0.1 && a > 0.0 => {
            format!("1/{}", int(b / a))
        }
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() && b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

pub fn render(results: &Results, machine: &str) -> String {
    let mut out = String::from("| row |");
    for kind in Kind::ALL {
        out.push_str(&format!(" {} |", kind.label()));
    }
    out.push_str(" ours/engine | ours/Node | io_thread/engine | io_thread/Node |\n|---|");
    out.push_str(&"---|".repeat(Kind::ALL.len() + 4));
    out.push('\n');
    for (label, row, cell) in lines() {
        let mut values = BTreeMap::new();
        out.push_str(&format!("| {label} |"));
        for kind in Kind::ALL {
            let text = match results.map.get(&(row, kind)) {
                Some(Ok(Some(f))) => {
                    let (text, value) = cell(f, kind);
                    values.insert(kind, value);
                    text
                }
                Some(Ok(None)) => "—".into(),
                Some(Err(e)) => format!("**failed: {e}**"),
                None => "?".into(),
            };
            out.push_str(&format!(" {text} |"));
        }
        let v = |k: Kind| values.get(&k).copied().flatten();
        out.push_str(&format!(
            " {} | {} | {} | {} |\n",
            ratio(v(Kind::Ours), v(Kind::Engine)),
            ratio(v(Kind::Ours), v(Kind::Node)),
            ratio(v(Kind::OursThread), v(Kind::Engine)),
            ratio(v(Kind::OursThread), v(Kind::Node))
        ));
    }
    let generator: Vec<String> = Kind::ALL
        .iter()
        .map(|&k| {
            let most = (0..ECHO.len())
                .filter_map(|i| match results.map.get(&(Row::Echo(i), k)) {
                    Some(Ok(Some(f))) => Some(f.report.generator_cpu),
                    _ => None,
                })
                .fold(f64::NAN, f64::max);
            if most.is_nan() {
                format!("{} ?", k.label())
            } else {
                format!("{} {most:.0} %", k.label())
            }
        })
        .collect();
    out.push_str(&format!("\nMachine: {machine}. Durations: {DURATIONS}.\n"));
    out.push_str(&format!("Load generator CPU, highest of the echo rows: {}.\n", generator.join(", ")));
    out
}
