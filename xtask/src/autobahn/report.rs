//! Reading wstest's reports: each role's cases by outcome, the cases not OK grouped with the
//! reason their own report gives, and whether the role passes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Result;

/// The outcomes a report gives a case, in the order the summary lists them.
const OUTCOMES: [&str; 5] = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"];

/// Cases 1.* to 13.*: what a complete run reports (301 in 1.*–10.*, 90 in 12.*, 126 in 13.*).
pub const EXPECTED_CASES: u32 = 517;

/// Cases that are not OK and share an outcome and a reason, consecutive in case order.
#[derive(Debug, PartialEq)]
pub struct Group {
    pub first: String,
    pub last: String,
    pub count: u32,
    pub outcome: String,
    pub why: String,
}

/// One role's report: outcome → number of cases, and the cases that were not OK, with why.
pub struct Verdict {
    /// Who was tested, as the line names it ("" for ours).
    pub peer: String,
    pub role: &'static str,
    pub counts: BTreeMap<String, u32>,
    pub groups: Vec<Group>,
    /// The role's run took `seconds`; the cases 12.* and 13.* (the sum of their reported
    /// durations) `deflate_seconds` of it.
    pub seconds: u64,
    pub deflate_seconds: u64,
    /// `AUTOBAHN_CASES`, when it chose the cases (then the case count is not checked).
    pub selection: Option<String>,
}

impl Verdict {
    pub fn cases(&self) -> u32 {
        self.counts.values().sum()
    }

    /// Why this role fails: a case neither OK nor INFORMATIONAL (NON-STRICT included: the frame
    /// layer is strict), or a report that does not hold every case (wstest writes a short one
    /// when a peer dies mid-run).
    pub fn problem(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.selection.is_none() && self.cases() != EXPECTED_CASES {
            why.push(format!("the report holds {} cases, not {EXPECTED_CASES}", self.cases()));
        }
        let bad: Vec<String> = self
            .groups
            .iter()
            .filter(|g| g.outcome != "INFORMATIONAL")
            .map(|g| format!("{} {}", g.cases(), g.outcome))
            .collect();
        if !bad.is_empty() {
            why.push(format!("not passed: {}", bad.join(", ")));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// `autobahn server role: 517 cases: 514 OK, 0 NON-STRICT, 3 INFORMATIONAL, 0 FAILED,
    /// 0 UNIMPLEMENTED (300 s, 12.*/13.* 250 s)`, then one indented line per group of cases
    /// not OK, with the reason.
    pub fn line(&self) -> String {
        let known = OUTCOMES.iter().map(|o| format!("{} {o}", self.counts.get(*o).copied().unwrap_or(0)));
        let other =
            self.counts.iter().filter(|(k, _)| !OUTCOMES.contains(&k.as_str())).map(|(k, v)| format!("{v} {k}"));
        let parts: Vec<String> = known.chain(other).collect();
        let peer = if self.peer.is_empty() { String::new() } else { format!("{} ", self.peer) };
        let selection = self.selection.as_ref().map(|s| format!(" (AUTOBAHN_CASES={s})")).unwrap_or_default();
        let mut text = format!(
            "autobahn {peer}{} role: {} cases{selection}: {} ({} s, 12.*/13.* {} s)",
            self.role,
            self.cases(),
            parts.join(", "),
            self.seconds,
            self.deflate_seconds
        );
        for g in &self.groups {
            text.push_str(&format!("\n  {} {}: {}", g.cases(), g.outcome, g.why));
        }
        text
    }
}

impl Group {
    /// `7.1.6`, or `13.3.1–13.3.18 (18)`.
    fn cases(&self) -> String {
        if self.count == 1 {
            self.first.clone()
        } else {
            format!("{}–{} ({})", self.first, self.last, self.count)
        }
    }
}

/// `12.1.10` → [12, 1, 10], to sort cases as the suite numbers them.
fn case_key(case: &str) -> Vec<u32> {
    case.split('.').map(|n| n.parse().unwrap_or(u32::MAX)).collect()
}

/// A list of received or expected events (`pong 'x', text 'Hello'`), or `nothing`.
fn events(list: &serde_json::Value) -> String {
    let event = |e: &serde_json::Value| {
        let kind = match (e[0].as_str(), e.get(2).and_then(|b| b.as_bool())) {
            (Some("message"), Some(true)) => "binary",
            (Some("message"), _) => "text",
            (Some(kind), _) => kind,
            _ => "?",
        };
        match e.get(1).and_then(|p| p.as_str()) {
            // The suite's own label for a wait that saw nothing, not a payload.
            _ if kind == "timeout" => kind.to_string(),
            // The suite keeps 64 octets of a payload (" ..." after), binary ones in hex.
            Some(p) if p.chars().count() <= 72 => format!("{kind} '{p}'"),
            Some(p) => format!("{kind} '{} ...'", p.chars().take(64).collect::<String>()),
            None => kind.to_string(),
        }
    };
    let all: Vec<String> = list.as_array().into_iter().flatten().map(event).collect();
    if all.is_empty() {
        "nothing".into()
    } else {
        all.join(", ")
    }
}

/// The Sec-WebSocket-Extensions value of an HTTP head, "none" without one.
fn extensions(head: &serde_json::Value) -> String {
    let head = head.as_str().unwrap_or("");
    let value = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("sec-websocket-extensions").then(|| format!("'{}'", value.trim()))
    });
    value.unwrap_or_else(|| "none".into())
}

/// Why a case got its outcome, from its own report.
fn why(outcome: &str, case: &serde_json::Value) -> String {
    let result = case["result"].as_str().unwrap_or("?");
    let mut why = match outcome {
        // Graded when the opening handshake agreed no permessage-deflate.
        "UNIMPLEMENTED" => format!(
            "no permessage-deflate agreed (request: {}; response: {})",
            extensions(&case["httpRequest"]),
            extensions(&case["httpResponse"])
        ),
        "NON-STRICT" | "FAILED" if result.starts_with("Actual events") => {
            let ok = case["expected"]["OK"].clone();
            format!("received {}; OK expects {}", events(&case["received"]), events(&ok))
        }
        _ => result.to_string(),
    };
    if case["behaviorClose"].as_str() != Some("OK") && case["behaviorClose"].as_str() != Some("INFORMATIONAL") {
        why.push_str(&format!(
            "; close {}: {}",
            case["behaviorClose"].as_str().unwrap_or("?"),
            case["resultClose"].as_str().unwrap_or("?")
        ));
    }
    why
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a role's report directory (`index.json`, and the own report of each case not OK).
pub fn read_report(
    dir: &Path,
    peer: &str,
    role: &'static str,
    seconds: u64,
    selection: Option<String>,
) -> Result<Verdict> {
    let index = read_json(&dir.join("index.json"))?;
    let mut all: Vec<(&String, &serde_json::Value)> = index
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .flat_map(|c| c.as_object().into_iter().flatten())
        .collect();
    all.sort_by_key(|(case, _)| case_key(case));
    let mut counts = BTreeMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut deflate_ms = 0;
    let mut previous_ok = true;
    for (case, result) in all {
        let outcome = result["behavior"].as_str().unwrap_or("?").to_string();
        *counts.entry(outcome.clone()).or_insert(0) += 1;
        if case.starts_with("12.") || case.starts_with("13.") {
            deflate_ms += result["duration"].as_u64().unwrap_or(0);
        }
        if outcome == "OK" {
            previous_ok = true;
            continue;
        }
        let report = read_json(&dir.join(result["reportfile"].as_str().unwrap_or("?")))?;
        let why = why(&outcome, &report);
        match groups.last_mut() {
            Some(g) if !previous_ok && g.outcome == outcome && g.why == why => {
                g.last = case.clone();
                g.count += 1;
            }
            _ => groups.push(Group { first: case.clone(), last: case.clone(), count: 1, outcome, why }),
        }
        previous_ok = false;
    }
    Ok(Verdict { peer: peer.to_string(), role, counts, groups, seconds, deflate_seconds: deflate_ms / 1000, selection })
}

#[cfg(test)]
mod tests {
    use super::{Group, Verdict, EXPECTED_CASES};
    use std::collections::BTreeMap;

    fn group(first: &str, last: &str, count: u32, outcome: &str, why: &str) -> Group {
        Group { first: first.into(), last: last.into(), count, outcome: outcome.into(), why: why.into() }
    }

    fn verdict(counts: &[(&str, u32)], groups: Vec<Group>) -> Verdict {
        let counts: BTreeMap<String, u32> = counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Verdict {
            peer: String::new(),
            role: "server",
            counts,
            groups,
            seconds: 300,
            deflate_seconds: 250,
            selection: None,
        }
    }

    #[test]
    fn a_role_fails_on_a_case_not_ok_unless_informational_or_on_a_short_report() {
        let informational = || {
            vec![
                group(
                    "7.1.6",
                    "7.1.6",
                    1,
                    "INFORMATIONAL",
                    "Close was processed before text message could be returned.",
                ),
                group("7.13.1", "7.13.2", 2, "INFORMATIONAL", "Actual events are undefined by the spec."),
            ]
        };
        let ok = verdict(&[("OK", EXPECTED_CASES - 3), ("INFORMATIONAL", 3)], informational());
        assert_eq!(ok.problem(), None);
        assert_eq!(
            ok.line(),
            "autobahn server role: 517 cases: 514 OK, 0 NON-STRICT, 3 INFORMATIONAL, 0 FAILED, 0 UNIMPLEMENTED \
             (300 s, 12.*/13.* 250 s)\n  \
             7.1.6 INFORMATIONAL: Close was processed before text message could be returned.\n  \
             7.13.1–7.13.2 (2) INFORMATIONAL: Actual events are undefined by the spec."
        );
        let mut groups = informational();
        groups.push(group("3.2", "3.3", 2, "NON-STRICT", "received nothing; OK expects text 'Hello, world!'"));
        let strict = verdict(&[("OK", EXPECTED_CASES - 5), ("NON-STRICT", 2), ("INFORMATIONAL", 3)], groups);
        assert_eq!(strict.problem().unwrap(), "not passed: 3.2–3.3 (2) NON-STRICT");
        let why = "no permessage-deflate agreed (request: 'permessage-deflate'; response: none)";
        let unimplemented = verdict(
            &[("OK", EXPECTED_CASES - 18), ("UNIMPLEMENTED", 18)],
            vec![group("13.3.1", "13.3.18", 18, "UNIMPLEMENTED", why)],
        );
        assert!(unimplemented.problem().unwrap().contains("13.3.1–13.3.18 (18) UNIMPLEMENTED"));
        let failed = verdict(&[("OK", EXPECTED_CASES - 1), ("FAILED", 1)], vec![group("5.6", "5.6", 1, "FAILED", "x")]);
        assert!(failed.problem().unwrap().contains("5.6 FAILED"));
        let short = verdict(&[("OK", 200)], vec![]);
        assert!(short.problem().unwrap().contains("200 cases"));
        let mut chosen = verdict(&[("OK", 18)], vec![]);
        chosen.selection = Some("12.1.*".into());
        assert_eq!(chosen.problem(), None);
    }

    #[test]
    fn reasons_come_from_the_case_report() {
        let report = serde_json::json!({
            "result": "Actual events differ from any expected.", "behaviorClose": "OK",
            "received": [], "expected": {"OK": [["message", "Hello", false], ["pong", ""], ["timeout", "A"]]},
            "httpRequest": "GET / HTTP/1.1\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
            "httpResponse": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        });
        assert_eq!(super::why("FAILED", &report), "received nothing; OK expects text 'Hello', pong '', timeout");
        assert_eq!(
            super::why("UNIMPLEMENTED", &report),
            "no permessage-deflate agreed (request: 'permessage-deflate; client_max_window_bits'; response: none)"
        );
        let mut timeout = report.clone();
        timeout["result"] = "Case did not finish within 480 seconds.".into();
        timeout["behaviorClose"] = "UNCLEAN".into();
        timeout["resultClose"] = "The spec requires the connection to be failed cleanly here".into();
        assert_eq!(
            super::why("FAILED", &timeout),
            "Case did not finish within 480 seconds.; close UNCLEAN: The spec requires the connection to be failed cleanly here"
        );
    }
}
