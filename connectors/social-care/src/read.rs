//! Reads one return: its files, by name, go to the reader of their format. An `.xml` file is a
//! CIN census; `header.csv`, `episodes.csv` and `missing.csv` are an SSDA903 return;
//! `early_help.csv` is the early help extract. Other files (the 903's other tables, a
//! covering note) are skipped.
//!
//! Limits: pure and synchronous: the connector runs it on a blocking thread.

use crate::record::Output;
use crate::{cin, codes, early_help, ssda903};

/// Reads the files of the return `name` (pairs of file name and text). `la` stands in for the
/// LA number where a file does not carry one (the CSVs, a CIN header without `LEA`).
pub(crate) fn read_return(name: &str, files: &[(String, String)], la: &str) -> Output {
    let mut out = Output::default();
    let mut is_903 = false;
    for (file, text) in files {
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".xml") {
            cin::read(text, file, la, codes::year_in_name(name), &mut out);
        } else if lower == early_help::FILE {
            early_help::read(text, la, &mut out);
        } else if [ssda903::HEADER, ssda903::EPISODES, ssda903::MISSING].contains(&lower.as_str()) {
            is_903 = true;
        }
    }
    if is_903 {
        ssda903::read(files, name, la, &mut out);
    }
    out
}
