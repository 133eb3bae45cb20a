//! One-line charts of a time series (▁▂▃▄▅▆▇█) for the terminal.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `width` columns over `[start, end]`: each column is the average of the
/// points in its slice of time, scaled between `low` and `high`; a column
/// with no point is a space, so gaps (an unreachable host) show.
pub fn sparkline(
    points: &[(i64, f64)],
    start: i64,
    end: i64,
    width: usize,
    low: f64,
    high: f64,
) -> String {
    let width = width.max(1);
    let span = (end - start).max(1) as f64;
    let mut sums = vec![(0.0, 0usize); width];
    for &(ts, value) in points {
        if ts < start || ts > end {
            continue;
        }
        let column = (((ts - start) as f64 / span) * width as f64) as usize;
        let slot = &mut sums[column.min(width - 1)];
        slot.0 += value;
        slot.1 += 1;
    }
    sums.iter()
        .map(|&(sum, n)| {
            if n == 0 {
                return ' ';
            }
            let value = sum / n as f64;
            let level = if high > low {
                ((value - low) / (high - low) * (BARS.len() - 1) as f64).round() as usize
            } else {
                0
            };
            BARS[level.min(BARS.len() - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rises_and_shows_gaps() {
        let points = [(0, 0.0), (10, 50.0), (30, 100.0)];
        assert_eq!(sparkline(&points, 0, 30, 4, 0.0, 100.0), "▁▅ █");
        assert_eq!(sparkline(&[(2, 3.0)], 0, 10, 2, 3.0, 3.0), "▁ ");
    }
}
