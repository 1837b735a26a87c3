//! What the benchmarks' tables share: CPU time from `/proc`, quantiles, thousands separators.

/// User + system CPU ticks of a process (`self` or a pid), all threads.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
pub const HZ: f64 = 100.0;

/// Nearest-rank quantile of sorted values.
pub fn rank(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

/// An integer with thousands separators ("?" for no number).
pub fn int(x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}
