//! `samples.csv`: the optional static table of per-sample columns (one header row, then one row per
//! sample, in sample order). A column whose every cell is a finite number (or empty: unknown) is
//! numeric, a value the viewer can colour by; any other column is text, shown beside the sample.

use std::path::Path;

use crate::files::read_bounded;
use crate::{text, RunError, MAX_SAMPLES_CSV_BYTES};

/// One column of `samples.csv`.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleColumn {
    /// Every cell a finite number; empty cells are NaN (unknown).
    Numeric(Vec<f32>),
    /// Anything else, as written (quotes removed).
    Text(Vec<String>),
}

/// The parsed `samples.csv`: named columns of N cells each, in the file's order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SamplesTable {
    pub columns: Vec<(String, SampleColumn)>,
}

impl SamplesTable {
    /// The CSV text of the table (a header row, then one row per sample; text cells quoted when
    /// they hold a comma, a quote or a line break; NaN written as an empty cell).
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let n = self.columns.first().map_or(0, |(_, c)| column_len(c));
        let mut out = self.columns.iter().map(|(name, _)| quote(name)).collect::<Vec<_>>().join(",");
        out.push('\n');
        for i in 0..n {
            let cells: Vec<String> = self
                .columns
                .iter()
                .map(|(_, c)| match c {
                    SampleColumn::Numeric(v) => {
                        v.get(i).filter(|x| x.is_finite()).map(ToString::to_string).unwrap_or_default()
                    }
                    SampleColumn::Text(v) => v.get(i).map(|s| quote(s)).unwrap_or_default(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

/// Cells in a column.
pub(crate) fn column_len(c: &SampleColumn) -> usize {
    match c {
        SampleColumn::Numeric(v) => v.len(),
        SampleColumn::Text(v) => v.len(),
    }
}

/// Reads and checks `path` (`samples.csv`) for a run of `n` samples; None when there is no such file.
pub(crate) fn read_samples_csv(path: &Path, n: usize) -> Result<Option<SamplesTable>, RunError> {
    let Some(bytes) = read_bounded(path, MAX_SAMPLES_CSV_BYTES, "samples.csv is a small table")? else {
        return Ok(None);
    };
    let body = String::from_utf8(bytes).map_err(|e| {
        RunError::invalid(path, format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })?;
    let rows = parse_csv(body.strip_prefix('\u{feff}').unwrap_or(&body)).map_err(|m| RunError::invalid(path, m))?;
    let Some((header, data)) = rows.split_first() else {
        return Err(RunError::invalid(path, "is empty; expected a header row naming the columns"));
    };
    for (i, name) in header.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(RunError::invalid(path, format!("column {} of the header row has no name", i + 1)));
        }
        if header[..i].contains(name) {
            return Err(RunError::invalid(
                path,
                format!("column \"{}\" is named twice in the header row", text::clip(name)),
            ));
        }
    }
    if data.len() != n {
        return Err(RunError::invalid(
            path,
            format!("has {} data rows; expected {n}, one per sample (as labels.npy has {n} labels)", data.len()),
        ));
    }
    for (r, row) in data.iter().enumerate() {
        if row.len() != header.len() {
            return Err(RunError::invalid(
                path,
                format!("row {} (sample {r}) has {} cells; the header has {}", r + 2, row.len(), header.len()),
            ));
        }
    }
    let columns = header
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let numbers: Option<Vec<f32>> = data
                .iter()
                .map(|row| {
                    let cell = row[c].trim();
                    if cell.is_empty() {
                        return Some(f32::NAN);
                    }
                    cell.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && v.abs() <= f64::from(f32::MAX))
                        .map(|v| v as f32)
                })
                .collect();
            let has_number = numbers.as_ref().is_some_and(|v| v.iter().any(|x| x.is_finite()));
            let column = match numbers {
                Some(v) if has_number => SampleColumn::Numeric(v),
                _ => SampleColumn::Text(data.iter().map(|row| row[c].clone()).collect()),
            };
            (name.clone(), column)
        })
        .collect();
    Ok(Some(SamplesTable { columns }))
}

/// Splits CSV text into rows of cells (RFC 4180: commas, double-quoted cells with `""` for a
/// quote, LF or CRLF line ends). A last line without content is not a row.
fn parse_csv(s: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = s.chars().peekable();
    let (mut line, mut in_quotes, mut quoted) = (1usize, false, false);
    while let Some(ch) = chars.next() {
        if in_quotes {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    cell.push(ch);
                }
                _ => cell.push(ch),
            }
            continue;
        }
        match ch {
            '"' if cell.is_empty() && !quoted => {
                in_quotes = true;
                quoted = true;
            }
            '"' => {
                return Err(format!(
                    "line {line}: a quote inside an unquoted cell (quote the whole cell, with \"\" for a quote)"
                ))
            }
            ',' => {
                row.push(std::mem::take(&mut cell));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut cell));
                quoted = false;
                rows.push(std::mem::take(&mut row));
                line += 1;
            }
            _ if quoted => return Err(format!("line {line}: text after a quoted cell's closing quote")),
            _ => cell.push(ch),
        }
    }
    if in_quotes {
        return Err(format!("line {line}: a quoted cell is not closed"));
    }
    if !cell.is_empty() || !row.is_empty() || quoted {
        row.push(cell);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_split_on_commas_and_quotes_keep_commas_quotes_and_line_breaks() {
        let rows = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",\n").unwrap();
        assert_eq!(rows, vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["two\nlines", ""]]);
        assert!(parse_csv("a\n\"open").unwrap_err().contains("not closed"));
        assert!(parse_csv("a\nb\"c").unwrap_err().contains("line 2"));
    }

    #[test]
    fn a_table_written_as_csv_parses_back() {
        let t = SamplesTable {
            columns: vec![
                ("difficulty".into(), SampleColumn::Numeric(vec![0.5, f32::NAN, -2.0])),
                ("file".into(), SampleColumn::Text(vec!["a,1.png".into(), "b\"2\".png".into(), "c.png".into()])),
            ],
        };
        let rows = parse_csv(&t.to_csv()).unwrap();
        assert_eq!(rows[0], vec!["difficulty", "file"]);
        assert_eq!(rows[1], vec!["0.5", "a,1.png"]);
        assert_eq!(rows[2], vec!["", "b\"2\".png"]);
    }
}
