//! A CSV table as the LA's CSV files hold it: a header row naming the columns, then one row per
//! line, each kept with its exact bytes so a rejected row can be quarantined as it came.
//!
//! Limits: pure; no IO. Column names match without regard to case or surrounding spaces.

/// A table read from one CSV file.
pub(crate) struct Table<'a> {
    /// The header line as it came, so a record's raw bytes can say which column is which.
    pub header_line: &'a str,
    columns: Vec<String>,
    pub rows: Vec<Row<'a>>,
}

/// One data row.
pub(crate) struct Row<'a> {
    /// The row's bytes, without its line ending.
    pub raw: &'a str,
    /// The 1-based line number of the row's first line, for reasons.
    pub line: u64,
    /// The fields, or why the row could not be split into fields.
    fields: Result<csv::StringRecord, String>,
}

/// A column's position, looked up once per table.
#[derive(Clone, Copy)]
pub(crate) struct Col(Option<usize>);

impl<'a> Table<'a> {
    /// Reads a whole file; `Err` when it has no header row at all.
    pub(crate) fn read(doc: &'a str) -> Result<Self, String> {
        let doc = doc.strip_prefix('\u{feff}').unwrap_or(doc);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(doc.as_bytes());
        let mut record = csv::StringRecord::new();
        let mut start = 0usize;
        let mut header: Option<(Vec<String>, &str)> = None;
        let mut rows = Vec::new();
        // Lines are counted here: the csv reader counts a record's line before its line ending.
        let (mut counted, mut newlines) = (0usize, 0u64);
        loop {
            let read = reader.read_record(&mut record);
            let end = usize::try_from(reader.position().byte()).unwrap_or(doc.len());
            let chunk = doc.get(start..end.min(doc.len())).unwrap_or_default();
            let lead = chunk.len() - chunk.trim_start_matches(['\r', '\n']).len();
            let raw = chunk.trim_matches(['\r', '\n']);
            let raw_start = start + lead;
            newlines += doc
                .get(counted..raw_start)
                .map_or(0, |s| s.bytes().filter(|b| *b == b'\n').count() as u64);
            counted = raw_start;
            let line = newlines + 1;
            start = end;
            let fields = match read {
                Ok(false) => break,
                Ok(true) => Ok(record.clone()),
                Err(e) => Err(match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_owned(),
                    _ => "cannot be split into fields".to_owned(),
                }),
            };
            if raw.trim().is_empty() {
                continue;
            }
            match (&header, fields) {
                (None, Ok(f)) => {
                    header = Some((
                        f.iter().map(|c| c.trim().to_ascii_uppercase()).collect(),
                        raw,
                    ));
                }
                (None, Err(_)) => return Err("has no readable header row".into()),
                (Some(_), fields) => rows.push(Row { raw, line, fields }),
            }
        }
        let (columns, header_line) = header.ok_or_else(|| "is empty".to_owned())?;
        Ok(Table {
            header_line,
            columns,
            rows,
        })
    }

    /// The position of a column.
    pub(crate) fn col(&self, name: &str) -> Col {
        Col(self.columns.iter().position(|c| c == name))
    }

    /// The first of `required` columns the table lacks.
    pub(crate) fn lacks<'n>(&self, required: &[&'n str]) -> Option<&'n str> {
        required
            .iter()
            .find(|n| !self.columns.iter().any(|c| c == *n))
            .copied()
    }
}

impl Row<'_> {
    /// Why the row could not be split into fields, if it could not.
    pub(crate) fn broken(&self) -> Option<&str> {
        self.fields.as_ref().err().map(String::as_str)
    }

    /// A field's trimmed value; `None` when the column is absent or the field blank.
    pub(crate) fn get(&self, col: Col) -> Option<&str> {
        let fields = self.fields.as_ref().ok()?;
        col.0
            .and_then(|i| fields.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// Writes one CSV row (quoting only where a field needs it) followed by CRLF, the line ending
/// the statutory CSV specifications use.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "the feed renders with it")
)]
pub(crate) fn write_row<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.as_ref();
        if f.contains([',', '"', '\r', '\n']) || f.starts_with(' ') || f.ends_with(' ') {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_exact_bytes_and_line_numbers() {
        let doc = "\u{feff}CHILD, dob\r\n1,01/02/2020\r\n\r\n\"2,b\",\"x\"\"y\"\n";
        let t = Table::read(doc).unwrap();
        assert_eq!(
            t.header_line,
            "\u{feff}CHILD, dob".trim_start_matches('\u{feff}')
        );
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].raw, "1,01/02/2020");
        assert_eq!(t.rows[1].raw, "\"2,b\",\"x\"\"y\"");
        assert_eq!(t.rows[1].get(t.col("CHILD")), Some("2,b"));
        assert_eq!(t.rows[1].get(t.col("DOB")), Some("x\"y"));
        assert_eq!(t.rows[0].get(t.col("MISSING")), None);
        assert_eq!(t.lacks(&["CHILD", "DOB", "SEX"]), Some("SEX"));
        assert_eq!(t.rows[0].line, 2);
    }

    #[test]
    fn an_empty_file_has_no_table() {
        assert!(Table::read("").is_err());
        assert!(Table::read("\r\n\r\n").is_err());
    }

    #[test]
    fn written_rows_read_back_the_same() {
        let mut out = String::new();
        write_row(&mut out, &["CHILD", "NOTE"]);
        write_row(&mut out, &["7", "a, \"quoted\" note"]);
        let t = Table::read(&out).unwrap();
        assert_eq!(t.rows[0].get(t.col("NOTE")), Some("a, \"quoted\" note"));
    }
}
