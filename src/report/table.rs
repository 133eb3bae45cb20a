//! Plain aligned tables (`herd backup list`, `herd audit`): columns padded
//! to their widest cell, two spaces apart, the last column unpadded so
//! long details do not push trailing blanks.

use std::io::{self, Write};

/// Writes `header` and `rows` as aligned columns.
pub fn write<const N: usize>(
    out: &mut impl Write,
    header: &[&str; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = header.map(String::from);
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let mut out = Vec::new();
        let rows = [["web10".to_string(), "pass".to_string(), "fine".to_string()]];
        super::write(&mut out, &["HOST", "STATUS", "DETAIL"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HOST   STATUS  DETAIL\nweb10  pass    fine\n"
        );
    }
}
