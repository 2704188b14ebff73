//! `kinship link --input FILE [--input FILE2] --id COLUMN --map FIELD=COLUMN,... --output
//! PAIRS.csv`: probabilistic linkage of plain CSV files, for analysts checking linkage quality
//! on their own extracts. One input deduplicates it; two link the first to the second.
//!
//! The output is `id_l,id_r,score` (and `explain` with `--explain`), one row per candidate
//! pair scoring at least `--threshold`; a summary goes to stderr. Bad input stops with the file,
//! line and column named, and never a value from the file.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::CliError;
use crate::linkage::probabilistic::{Field, Linker, Record, comparison_names};

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// A CSV file with a header row; give two to link the first to the second.
    #[arg(long = "input", num_args = 1, required_unless_present = "all")]
    pub inputs: Vec<PathBuf>,
    /// The column holding each record's id (unique within its file).
    #[arg(long, required_unless_present = "all")]
    pub id: Option<String>,
    /// FIELD=COLUMN pairs, comma-separated or repeated. FIELD is one of given_name,
    /// family_name, date_of_birth, sex, postcode, address_line, locality, nhs_number, upn.
    #[arg(long, value_delimiter = ',', required_unless_present = "all")]
    pub map: Vec<String>,
    /// Where to write the pairs.
    #[arg(long, required_unless_present = "all")]
    pub output: Option<PathBuf>,
    /// The lowest match probability written.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Add a column with each comparison's weight.
    #[arg(long)]
    pub explain: bool,
    /// Relink the hub's whole graph instead of files: merge persons the model matches above
    /// `[linkage] link_threshold` and queue doubtful pairs for review (`matchReviewQueue`).
    #[arg(long, conflicts_with_all = ["inputs", "id", "map", "output", "explain", "threshold"])]
    pub all: bool,
    /// The hub's configuration file, for `--all` (default: `KINSHIP_CONFIG`, else defaults).
    #[arg(long, requires = "all")]
    pub config: Option<PathBuf>,
}

/// `kinship link --all`.
pub async fn relink(args: LinkArgs) -> Result<(), CliError> {
    let config = crate::config::Config::load(args.config.as_deref())?;
    config.validate_store()?;
    if let Some(problem) = config.linkage.problem() {
        return Err(failed(problem));
    }
    let store = super::hub::open_store(&config).await?;
    let indicators = super::hub::load_indicators(&config).await?;
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    progress.set_message("reading the graph, estimating the model and relinking");
    let done = crate::sync::relink::relink_all(&store, &config.linkage, &indicators)
        .await
        .map_err(|e| CliError::failed(&e))?;
    progress.finish_and_clear();
    eprintln!(
        "link --all: {} persons, {} linkage records, {} pairs compared; {} persons merged, {} pairs queued for review; {} persons now; {:.2} s",
        done.persons_before,
        done.records,
        done.pairs_compared,
        done.merged,
        done.queued,
        done.persons_after,
        done.seconds
    );
    Ok(())
}

fn failed(message: String) -> CliError {
    CliError::Failed(message)
}

/// FIELD=COLUMN mappings, checked.
fn mapping(map: &[String]) -> Result<Vec<(Field, String)>, CliError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for m in map.iter().filter(|m| !m.trim().is_empty()) {
        let (field, column) = m
            .split_once('=')
            .ok_or_else(|| failed(format!("--map `{m}`: expected FIELD=COLUMN")))?;
        let field = Field::parse(field.trim()).ok_or_else(|| {
            failed(format!(
                "--map: unknown field `{}`; use one of {}",
                field.trim(),
                Field::ALL.map(Field::as_str).join(", ")
            ))
        })?;
        if !seen.insert(field) {
            return Err(failed(format!(
                "--map: field `{}` is mapped twice",
                field.as_str()
            )));
        }
        out.push((field, column.trim().to_owned()));
    }
    Ok(out)
}

/// Reads one file's records and ids.
fn read(
    path: &Path,
    id_column: &str,
    map: &[(Field, String)],
) -> Result<(Vec<String>, Vec<Record>), CliError> {
    let name = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| failed(format!("{name}: cannot read: {}", csv_reason(&e))))?;
    let headers = reader
        .headers()
        .map_err(|e| failed(format!("{name}: line 1: {}", csv_reason(&e))))?
        .clone();
    let column = |c: &str| headers.iter().position(|h| h.trim() == c);
    let id_at = column(id_column).ok_or_else(|| {
        failed(format!(
            "{name}: line 1: no id column `{id_column}` in the header"
        ))
    })?;
    let mut at = Vec::new();
    for (field, c) in map {
        let i = column(c).ok_or_else(|| {
            failed(format!(
                "{name}: line 1: no column `{c}` (mapped to {}) in the header",
                field.as_str()
            ))
        })?;
        at.push((*field, i));
    }
    let (mut ids, mut records) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            failed(format!("{name}: line {line}: {}", csv_reason(&e)))
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let id = row.get(id_at).unwrap_or("").trim().to_owned();
        if id.is_empty() {
            return Err(failed(format!(
                "{name}: line {line}: column `{id_column}`: the id is empty"
            )));
        }
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(failed(format!(
                "{name}: line {line}: column `{id_column}`: duplicate id (first on line {first})"
            )));
        }
        let fields: HashMap<Field, String> = at
            .iter()
            .map(|(f, i)| (*f, row.get(*i).unwrap_or("").to_owned()))
            .collect();
        ids.push(id);
        records.push(Record::new(&fields));
    }
    Ok((ids, records))
}

/// A CSV error's kind, without the field content the csv crate may quote.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => "not readable as CSV".into(),
    }
}

pub fn run(args: LinkArgs) -> Result<(), CliError> {
    let started = Instant::now();
    if args.inputs.len() > 2 {
        return Err(failed(
            "give one --input to deduplicate or two to link".into(),
        ));
    }
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(failed("--threshold must be between 0 and 1".into()));
    }
    let map = mapping(&args.map)?;
    let (Some(id), Some(output)) = (args.id.as_deref(), args.output.as_deref()) else {
        return Err(failed("--id and --output are needed with --input".into()));
    };
    // On a terminal, a spinner says which step is running; elsewhere it draws nothing.
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    progress.set_message("reading the input");
    let (left_ids, left) = read(&args.inputs[0], id, &map)?;
    let right = match args.inputs.get(1) {
        Some(path) => Some(read(path, id, &map)?),
        None => None,
    };
    let linker = Linker {
        left: &left,
        right: right.as_ref().map(|(_, r)| r.as_slice()),
    };
    progress.set_message(format!(
        "blocking, estimating the model and scoring {} records",
        left.len() + right.as_ref().map_or(0, |(_, r)| r.len())
    ));
    let (scored, summary) = linker.run();
    progress.set_message(format!(
        "writing the pairs ({} compared)",
        summary.pairs_compared
    ));
    let right_ids = right.as_ref().map_or(&left_ids, |(ids, _)| ids);
    let file = std::fs::File::create(output)
        .map_err(|e| failed(format!("{}: cannot write: {e}", output.display())))?;
    let mut out = std::io::BufWriter::new(file);
    let mut header = String::from("id_l,id_r,score");
    if args.explain {
        header.push_str(",explain");
    }
    writeln!(out, "{header}")?;
    let names = comparison_names();
    let mut kept = 0u64;
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    for s in scored.iter().filter(|s| s.probability >= args.threshold) {
        kept += 1;
        let score = format!("{:.6}", s.probability);
        let mut row = vec![
            left_ids[s.l as usize].as_str(),
            right_ids[s.r as usize].as_str(),
            score.as_str(),
        ];
        let explain;
        if args.explain {
            explain = names
                .iter()
                .zip(s.weights)
                .filter_map(|(n, w)| w.map(|w| format!("{n}={w:+.2}")))
                .collect::<Vec<_>>()
                .join(" ");
            row.push(&explain);
        }
        w.write_record(&row).map_err(|e| {
            failed(format!(
                "{}: cannot write: {}",
                output.display(),
                csv_reason(&e)
            ))
        })?;
    }
    w.flush()?;
    progress.finish_and_clear();
    let records = left.len() + right.as_ref().map_or(0, |(_, r)| r.len());
    eprintln!(
        "link: {records} records, {} pairs compared, {kept} pairs kept (score >= {}), {:.2} s{}",
        summary.pairs_compared,
        args.threshold,
        started.elapsed().as_secs_f64(),
        if summary.blocks_skipped > 0 {
            format!(
                "; {} blocks too large to compare (a value shared by more than 2,000 records)",
                summary.blocks_skipped
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
