//! `kinship bench link`: probabilistic linkage of a generated corpus whose truth is known, at
//! 10,000, 100,000 and 1,000,000 records (or one size): precision, recall and F1 at the
//! default threshold, blocking recall, pairs compared, records per second and peak memory.

use std::collections::HashMap;
use std::time::Instant;

use clap::Args;

use super::super::CliError;
use super::sync::{peak_rss, reset_peak};
use crate::linkage::probabilistic::{Field, LINK_THRESHOLD, Linker, Record};
use crate::population::corpus::{CorpusRecord, HERITAGE_NAMES, Noise, linkage_corpus};

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// One corpus size instead of 10,000, 100,000 and 1,000,000 records.
    #[arg(long)]
    pub records: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

fn record(c: &CorpusRecord) -> Record {
    let fields: HashMap<Field, String> = [
        (Field::GivenName, c.given.clone()),
        (Field::FamilyName, c.family.clone()),
        (Field::DateOfBirth, c.date_of_birth.clone()),
        (Field::Sex, c.sex.clone()),
        (Field::Postcode, c.postcode.clone()),
        (Field::AddressLine, c.address_line.clone()),
        (Field::Locality, c.locality.clone()),
    ]
    .into_iter()
    .collect();
    Record::new(&fields)
}

pub fn run(args: LinkArgs) -> Result<(), CliError> {
    let sizes = match args.records {
        Some(n) => vec![n],
        None => vec![10_000, 100_000, 1_000_000],
    };
    let mut summary = Vec::new();
    for n in sizes {
        let corpus = linkage_corpus(n, args.seed, &Noise::default());
        let records: Vec<Record> = corpus.iter().map(record).collect();
        let truth_pairs: u64 = {
            let mut per: HashMap<u32, u64> = HashMap::new();
            for c in &corpus {
                *per.entry(c.person).or_default() += 1;
            }
            per.values().map(|k| k * (k - 1) / 2).sum()
        };
        reset_peak();
        let started = Instant::now();
        let linker = Linker {
            left: &records,
            right: None,
        };
        let (scored, run) = linker.run();
        let seconds = started.elapsed().as_secs_f64();
        let peak = peak_rss().unwrap_or(0);
        let same = |s: &crate::linkage::probabilistic::Scored| {
            corpus[s.l as usize].person == corpus[s.r as usize].person
        };
        let candidates_true = scored.iter().filter(|s| same(s)).count() as u64;
        // Candidate pairs come once each, so counting them counts distinct pairs.
        let (linked, true_links) = scored
            .iter()
            .filter(|s| s.probability >= LINK_THRESHOLD)
            .fold((0u64, 0u64), |(all, t), s| {
                (all + 1, t + u64::from(same(s)))
            });
        let true_links = true_links as f64;
        let precision = true_links / (linked as f64).max(1.0);
        let recall = true_links / (truth_pairs as f64).max(1.0);
        let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
        let rate = n as f64 / seconds;
        println!("records: {n} ({truth_pairs} true pairs, no shared identifiers, default noise)");
        println!(
            "  precision {precision:.4}, recall {recall:.4}, F1 {f1:.4} at match probability >= {LINK_THRESHOLD}"
        );
        println!(
            "  blocking recall {:.4} ({} of {truth_pairs} true pairs among the candidates)",
            candidates_true as f64 / (truth_pairs as f64).max(1.0),
            candidates_true
        );
        // Per heritage: recall over its people's true pairs, precision over the links made
        // from its records.
        let mut by: Vec<(u64, u64, u64)> = vec![(0, 0, 0); HERITAGE_NAMES.len()];
        let mut per: HashMap<u32, (usize, u64)> = HashMap::new();
        for c in &corpus {
            per.entry(c.person).or_insert((c.heritage, 0)).1 += 1;
        }
        for (h, k) in per.values() {
            by[*h].0 += k * (k - 1) / 2;
        }
        for s in scored.iter().filter(|s| s.probability >= LINK_THRESHOLD) {
            let h = corpus[s.l as usize].heritage;
            by[h].1 += 1;
            by[h].2 += u64::from(same(s));
        }
        let heritage_f1: Vec<String> = HERITAGE_NAMES
            .iter()
            .zip(&by)
            .map(|(name, (truth, links, good))| {
                let p = *good as f64 / (*links as f64).max(1.0);
                let r = *good as f64 / (*truth as f64).max(1.0);
                let f = 2.0 * p * r / (p + r).max(f64::MIN_POSITIVE);
                format!("{name} {f:.4} (precision {p:.4}, recall {r:.4})")
            })
            .collect();
        println!("  F1 by heritage: {}", heritage_f1.join("; "));
        println!("  pairs compared: {}", run.pairs_compared);
        println!("  linked in {seconds:.2} s: {rate:.0} records/s");
        println!("  peak memory {} MiB", peak / (1024 * 1024));
        summary.push(format!("{n}: F1 {f1:.4} in {seconds:.2} s"));
    }
    let process = link_process(args.seed)?;
    println!("kinship link as a whole process on 10,000 records: {process:.2} s wall");
    println!(
        "summary: bench link: {}; the kinship link process on 10,000 records in {process:.2} s",
        summary.join("; ")
    );
    Ok(())
}

/// Writes 10,000 corpus records to a CSV file and times `kinship link` on it as a process of
/// its own, start to exit.
fn link_process(seed: u64) -> Result<f64, CliError> {
    let dir = std::env::temp_dir().join(format!("kinship-bench-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("people.csv");
    let mut w = csv::Writer::from_path(&input).map_err(|e| CliError::Failed(e.to_string()))?;
    let header = [
        "id", "given", "family", "dob", "sex", "postcode", "line", "town",
    ];
    w.write_record(header)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    for (i, c) in linkage_corpus(10_000, seed, &Noise::default())
        .iter()
        .enumerate()
    {
        let id = i.to_string();
        w.write_record([
            id.as_str(),
            &c.given,
            &c.family,
            &c.date_of_birth,
            &c.sex,
            &c.postcode,
            &c.address_line,
            &c.locality,
        ])
        .map_err(|e| CliError::Failed(e.to_string()))?;
    }
    w.flush()?;
    let started = Instant::now();
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["link", "--id", "id", "--map"])
        .arg("given_name=given,family_name=family,date_of_birth=dob,sex=sex,postcode=postcode,address_line=line,locality=town")
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(dir.join("pairs.csv"))
        .stderr(std::process::Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        return Err(CliError::Failed("kinship link failed on the corpus".into()));
    }
    Ok(seconds)
}
