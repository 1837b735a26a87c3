//! Deadlines from durations that may be arbitrarily large: `Instant + Duration` panics on
//! overflow, so every deadline in the core is made here, and one past the end of time is none.

use std::time::{Duration, Instant};

/// `now + after`, or `None` when that is beyond what an `Instant` can hold (never due).
pub fn deadline(now: Instant, after: Duration) -> Option<Instant> {
    now.checked_add(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_past_the_end_of_time_is_none() {
        let now = Instant::now();
        assert_eq!(deadline(now, Duration::from_secs(3)), Some(now + Duration::from_secs(3)));
        assert_eq!(deadline(now, Duration::MAX), None);
    }
}
