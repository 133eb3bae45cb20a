//! Plain aligned text tables (`herd status`, `herd history`).

use std::io::{self, Write};

/// Writes `rows` (the first is the header) in columns two spaces apart;
/// the columns in `right` are right-aligned (numbers).
pub fn write(out: &mut impl Write, rows: &[Vec<String>], right: &[usize]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if right.contains(&c) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
            line.push_str("  ");
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["HOST".to_string(), "LOAD".into()],
            vec!["host10".into(), "1.50".into()],
            vec!["h".into(), "12.00".into()],
        ];
        let mut out = Vec::new();
        super::write(&mut out, &rows, &[1]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HOST     LOAD\nhost10   1.50\nh       12.00\n"
        );
    }
}
