//! A linkage corpus: records of the same people as several agencies would type them, with the
//! truth kept. Each person gets one to four records; each copy after the first is corrupted
//! the way agency records are, at rates the caller controls: typing errors and transposed
//! letters, a diminutive for the given name, given and family names swapped, day and month
//! swapped or one part of the date wrong, a move to a new address, and missing values.
//!
//! Heritages are drawn in the proportions of England and Wales (Census 2021: about four in
//! five people White British or other White, one in ten Asian, one in twenty Black): names,
//! and how often strangers share them, follow. Drawn uniformly, a quarter of the people would
//! share the thirty surnames of a small list and same-name-same-birthday strangers would be
//! far likelier than in any real population. The small lists still make strangers of those
//! heritages likelier to share a name and a birthday than White British ones: linkage errors
//! fall unevenly, as they do in real data, and the per-heritage figures show it.
//!
//! Limits: data only; draws names from the generator's lists.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names;

/// How often each corruption happens to a copy of a record.
#[derive(Clone, Debug)]
pub struct Noise {
    pub typo_given: f64,
    pub typo_family: f64,
    pub diminutive: f64,
    pub swapped_names: f64,
    pub day_month_swapped: f64,
    pub date_part_wrong: f64,
    pub moved: f64,
    pub missing_postcode: f64,
    pub missing_date_of_birth: f64,
    pub missing_sex: f64,
}

impl Default for Noise {
    /// The default noise: what a mix of health, school, police and council records shows.
    fn default() -> Self {
        Self {
            typo_given: 0.05,
            typo_family: 0.05,
            diminutive: 0.05,
            swapped_names: 0.02,
            day_month_swapped: 0.02,
            date_part_wrong: 0.02,
            moved: 0.10,
            missing_postcode: 0.05,
            missing_date_of_birth: 0.02,
            missing_sex: 0.05,
        }
    }
}

/// One record of the corpus: its fields as an agency typed them, and the person it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusRecord {
    pub person: u32,
    /// Which of [`HERITAGE_NAMES`] the person's names come from.
    pub heritage: usize,
    pub given: String,
    pub family: String,
    /// `YYYY-MM-DD`, or empty.
    pub date_of_birth: String,
    pub sex: String,
    pub postcode: String,
    pub address_line: String,
    pub locality: String,
}

fn pick<'a>(rng: &mut ChaCha8Rng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// One typing error: a letter dropped, two swapped, or one replaced.
fn typo(rng: &mut ChaCha8Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 4 {
        return s.to_owned();
    }
    let i = rng.random_range(1..chars.len() - 1);
    match rng.random_range(0..3) {
        0 => {
            chars.remove(i);
        }
        1 => chars.swap(i, i + 1),
        _ => {
            chars[i] = pick(rng, &["a", "e", "i", "o", "u", "y"])
                .chars()
                .next()
                .unwrap_or('e')
        }
    }
    chars.into_iter().collect()
}

fn address(rng: &mut ChaCha8Rng) -> (String, String, String) {
    let (town, district) = names::TOWNS[rng.random_range(0..names::TOWNS.len())];
    let letter = |rng: &mut ChaCha8Rng| {
        char::from(names::INWARD_LETTERS[rng.random_range(0..names::INWARD_LETTERS.len())])
    };
    let postcode = format!(
        "{district} {}{}{}",
        rng.random_range(1..10),
        letter(rng),
        letter(rng)
    );
    let line = format!(
        "{} {} {}",
        rng.random_range(1..200),
        pick(rng, names::STREET_STEMS),
        pick(rng, names::STREET_KINDS)
    );
    (line, town.to_owned(), postcode)
}

/// The share of people of each of [`names::HERITAGES`]: British, South Asian, Black British,
/// Eastern European.
const HERITAGE_SHARES: [f64; 4] = [0.77, 0.10, 0.05, 0.08];

/// The heritages' names, for reports.
pub const HERITAGE_NAMES: [&str; 4] = [
    "British",
    "South Asian",
    "Black British",
    "Eastern European",
];

fn heritage(rng: &mut ChaCha8Rng) -> usize {
    let mut x: f64 = rng.random_range(0.0..1.0);
    for (i, share) in HERITAGE_SHARES.iter().enumerate() {
        if x < *share {
            return i;
        }
        x -= share;
    }
    HERITAGE_SHARES.len() - 1
}

/// About `records` records of distinct people, shuffled, from `seed`.
pub fn linkage_corpus(records: usize, seed: u64, noise: &Noise) -> Vec<CorpusRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(records + 4);
    let mut person = 0u32;
    while out.len() < records {
        let heritage_index = heritage(&mut rng);
        let heritage = names::HERITAGES[heritage_index];
        let female = rng.random_bool(0.5);
        let child = rng.random_bool(0.7);
        let given = match (female, child) {
            (true, true) => pick(&mut rng, heritage.girls),
            (false, true) => pick(&mut rng, heritage.boys),
            (true, false) => pick(&mut rng, heritage.women),
            (false, false) => pick(&mut rng, heritage.men),
        };
        let family = pick(&mut rng, heritage.surnames);
        let dob = chrono::NaiveDate::from_ymd_opt(
            if child {
                rng.random_range(2008..2026)
            } else {
                rng.random_range(1960..2004)
            },
            rng.random_range(1..13),
            rng.random_range(1..29),
        )
        .unwrap_or_default();
        let sex = if female { "F" } else { "M" };
        let (line, town, postcode) = address(&mut rng);
        let copies = match rng.random_range(0..10) {
            0..=3 => 1,
            4..=7 => 2,
            8 => 3,
            _ => 4,
        };
        for copy in 0..copies {
            let mut r = CorpusRecord {
                person,
                heritage: heritage_index,
                given: given.to_owned(),
                family: family.to_owned(),
                date_of_birth: dob.format("%Y-%m-%d").to_string(),
                sex: sex.to_owned(),
                postcode: postcode.clone(),
                address_line: line.clone(),
                locality: town.clone(),
            };
            if copy > 0 {
                corrupt(&mut rng, &mut r, dob, noise);
            }
            out.push(r);
        }
        person += 1;
    }
    // Agencies' files are in no useful order.
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    out
}

fn corrupt(rng: &mut ChaCha8Rng, r: &mut CorpusRecord, dob: chrono::NaiveDate, noise: &Noise) {
    use chrono::Datelike;
    if rng.random_bool(noise.diminutive)
        && let Some(n) = names::nickname(&r.given)
    {
        r.given = n.to_owned();
    }
    if rng.random_bool(noise.typo_given) {
        r.given = typo(rng, &r.given);
    }
    if rng.random_bool(noise.typo_family) {
        r.family = typo(rng, &r.family);
    }
    if rng.random_bool(noise.swapped_names) {
        std::mem::swap(&mut r.given, &mut r.family);
    }
    let (y, m, d) = (dob.year(), dob.month(), dob.day());
    if rng.random_bool(noise.day_month_swapped) && d <= 12 && d != m {
        r.date_of_birth = format!("{y:04}-{d:02}-{m:02}");
    } else if rng.random_bool(noise.date_part_wrong) {
        r.date_of_birth = match rng.random_range(0..3) {
            0 => format!(
                "{:04}-{m:02}-{d:02}",
                y + if rng.random_bool(0.5) { 1 } else { -1 }
            ),
            1 => format!("{y:04}-{:02}-{d:02}", m % 12 + 1),
            _ => format!("{y:04}-{m:02}-{:02}", d % 28 + 1),
        };
    }
    if rng.random_bool(noise.moved) {
        let (line, town, postcode) = address(rng);
        (r.address_line, r.locality, r.postcode) = (line, town, postcode);
    }
    if rng.random_bool(noise.missing_postcode) {
        r.postcode.clear();
    }
    if rng.random_bool(noise.missing_date_of_birth) {
        r.date_of_birth.clear();
    }
    if rng.random_bool(noise.missing_sex) {
        r.sex.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_repeatable_and_keeps_the_truth() {
        let a = linkage_corpus(2_000, 3, &Noise::default());
        assert_eq!(a, linkage_corpus(2_000, 3, &Noise::default()));
        assert!(a.len() >= 2_000 && a.len() < 2_004);
        let people: std::collections::HashSet<u32> = a.iter().map(|r| r.person).collect();
        assert!(people.len() < a.len(), "some people have several records");
        // With no noise, every copy of a person is the same.
        let clean = Noise {
            typo_given: 0.0,
            typo_family: 0.0,
            diminutive: 0.0,
            swapped_names: 0.0,
            day_month_swapped: 0.0,
            date_part_wrong: 0.0,
            moved: 0.0,
            missing_postcode: 0.0,
            missing_date_of_birth: 0.0,
            missing_sex: 0.0,
        };
        let c = linkage_corpus(500, 3, &clean);
        for x in &c {
            for y in c.iter().filter(|y| y.person == x.person) {
                assert_eq!((&x.given, &x.date_of_birth), (&y.given, &y.date_of_birth));
            }
        }
    }
}
