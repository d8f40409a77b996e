//! The one table renderer of xtask: every command that prints rows (doctor,
//! verify-symbols, lint, the step times, the e2e rebuild figures) builds a
//! [`Table`] and prints [`Table::render`], so that all of them align the same
//! way; [`Table::markdown`] is the same rows for a GitHub step summary.
//!
//! Columns are separated by two spaces. A column is as wide as its widest
//! cell, its header or its minimum width; the last column, when left-aligned,
//! is not padded (no trailing blanks beyond the separator).

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
struct Column {
    header: String,
    align: Align,
    min: usize,
}

/// Rows under a header line.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, each left-aligned.
    pub fn new(headers: &[&str]) -> Table {
        let columns = headers.iter().map(|h| Column { header: (*h).to_owned(), align: Align::Left, min: 0 }).collect();
        Table { columns, rows: Vec::new() }
    }

    /// Align column `i` (0-based) this way.
    pub fn align(mut self, i: usize, align: Align) -> Table {
        self.columns[i].align = align;
        self
    }

    /// Make column `i` at least `width` characters wide.
    pub fn min_width(mut self, i: usize, width: usize) -> Table {
        self.columns[i].min = width;
        self
    }

    /// Add a row; missing cells are empty, extra cells are an error of the caller.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        assert!(
            row.len() <= self.columns.len(),
            "a row of {} cells in a table of {} columns",
            row.len(),
            self.columns.len()
        );
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
    }

    /// The header line and the rows, each ending in a newline.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                let c = &self.columns[i];
                self.rows.iter().map(|r| width(&r[i])).chain([width(&c.header), c.min]).max().unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let headers: Vec<&str> = self.columns.iter().map(|c| c.header.as_str()).collect();
        for cells in std::iter::once(headers).chain(self.rows.iter().map(|r| r.iter().map(String::as_str).collect())) {
            let last = cells.len() - 1;
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(width(cell));
                match self.columns[i].align {
                    Align::Right => {
                        out.push_str(&" ".repeat(pad));
                        out.push_str(cell);
                    }
                    Align::Left => {
                        out.push_str(cell);
                        if i != last {
                            out.push_str(&" ".repeat(pad));
                        }
                    }
                }
                if i != last {
                    out.push_str("  ");
                }
            }
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured markdown table of the same rows (`|` in cells escaped).
    pub fn markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.columns.iter().map(|c| c.header.clone()).collect());
        out += &line(
            self.columns
                .iter()
                .map(|c| match c.align {
                    Align::Left => "---".to_owned(),
                    Align::Right => "---:".to_owned(),
                })
                .collect(),
        );
        for r in &self.rows {
            out += &line(r.iter().map(|c| c.replace('|', "\\|")).collect());
        }
        out
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_alignment_and_no_trailing_padding() {
        let mut t =
            Table::new(&["check", "result", "time", "detail"]).min_width(1, 7).align(2, Align::Right).min_width(2, 8);
        t.row(["rustfmt", "PASS", "200ms", ""]);
        t.row(["go-vet", "SKIPPED", "1m 05.2s", "no go"]);
        assert_eq!(
            t.render(),
            "check    result       time  detail\n\
             rustfmt  PASS        200ms  \n\
             go-vet   SKIPPED  1m 05.2s  no go\n"
        );
    }

    #[test]
    fn empty_table_is_its_header_and_short_rows_are_padded() {
        let mut t = Table::new(&["", "check"]).min_width(0, 4);
        assert_eq!(t.render(), "      check\n");
        t.row(["PASS"]);
        assert_eq!(t.render(), "      check\nPASS  \n");
    }

    #[test]
    fn markdown_escapes_bars_and_right_aligns() {
        let mut t = Table::new(&["step", "time"]).align(1, Align::Right);
        t.row(["a|b", "1.0s"]);
        assert_eq!(t.markdown(), "| step | time |\n| --- | ---: |\n| a\\|b | 1.0s |\n");
    }

    #[test]
    #[should_panic(expected = "a row of 3 cells in a table of 2 columns")]
    fn too_many_cells_is_a_bug() {
        Table::new(&["a", "b"]).row(["1", "2", "3"]);
    }
}
