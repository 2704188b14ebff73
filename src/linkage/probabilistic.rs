//! Probabilistic record linkage in the Fellegi–Sunter model, for records that share no strong
//! identifier: blocking rules keep the candidate pairs few, comparisons grade agreement field by
//! field, u probabilities come from random pairs, m probabilities from expectation–maximisation
//! over the candidate pairs (no labels), an exact name agreement is weighted by how common the
//! name is, and the weights sum into a match probability.
//!
//! Values that are not UK-shaped (a foreign postcode, a date that does not parse) still compare,
//! exactly, as strings. Two records with different NHS numbers (or UPNs) are never a match,
//! whatever else agrees.
//!
//! Limits: pure computation over [`Record`]s; no IO.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};

use crate::model::IdentifierSystem;

/// One record's linkage fields, normalised. Every field may be missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub given: Option<String>,
    pub family: Option<String>,
    /// `YYYY-MM-DD` when it parsed as a date, else the value as given.
    pub dob: Option<String>,
    pub sex: Option<String>,
    /// Upper case without spaces.
    pub postcode: Option<String>,
    pub address_line: Option<String>,
    pub locality: Option<String>,
    pub nhs_number: Option<String>,
    pub upn: Option<String>,
}

fn clean_name(v: &str) -> Option<String> {
    let s: String = v
        .chars()
        .filter(|c| c.is_alphabetic() || *c == ' ' || *c == '-' || *c == '\'')
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphabetic())
        .collect();
    (!s.is_empty()).then_some(s)
}

fn clean_text(v: &str) -> Option<String> {
    let s = v
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!s.is_empty()).then_some(s)
}

/// A date of birth as `YYYY-MM-DD` from `YYYY-MM-DD` or `YYYYMMDD`, else the trimmed value.
fn clean_dob(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    for format in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(v, format) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    Some(v.to_owned())
}

impl Record {
    /// A record from raw field values (any may be empty).
    pub fn new(fields: &HashMap<Field, String>) -> Self {
        let get = |f: Field| fields.get(&f).map(String::as_str).unwrap_or("");
        let compact = |v: &str| {
            let s: String = v
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_uppercase();
            (!s.is_empty()).then_some(s)
        };
        Self {
            given: clean_name(get(Field::GivenName)),
            family: clean_name(get(Field::FamilyName)),
            dob: clean_dob(get(Field::DateOfBirth)),
            sex: clean_text(get(Field::Sex)).map(|s| s.chars().take(1).collect()),
            postcode: compact(get(Field::Postcode)),
            address_line: clean_text(get(Field::AddressLine)),
            locality: clean_text(get(Field::Locality)),
            // Only a valid number counts: one with a typo (failing its check digit or letter)
            // is missing, so it neither links nor rules out.
            nhs_number: IdentifierSystem::NhsNumber
                .normalise(get(Field::NhsNumber))
                .ok(),
            upn: IdentifierSystem::Upn.normalise(get(Field::Upn)).ok(),
        }
    }
}

impl Record {
    /// A record from (field, value) pairs; fields not given are missing.
    pub fn from_values<'a>(values: impl IntoIterator<Item = (Field, &'a str)>) -> Self {
        Self::new(&values.into_iter().map(|(f, v)| (f, v.to_owned())).collect())
    }
}

/// The fields a record may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    GivenName,
    FamilyName,
    DateOfBirth,
    Sex,
    Postcode,
    AddressLine,
    Locality,
    NhsNumber,
    Upn,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Self::GivenName,
        Self::FamilyName,
        Self::DateOfBirth,
        Self::Sex,
        Self::Postcode,
        Self::AddressLine,
        Self::Locality,
        Self::NhsNumber,
        Self::Upn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GivenName => "given_name",
            Self::FamilyName => "family_name",
            Self::DateOfBirth => "date_of_birth",
            Self::Sex => "sex",
            Self::Postcode => "postcode",
            Self::AddressLine => "address_line",
            Self::Locality => "locality",
            Self::NhsNumber => "nhs_number",
            Self::Upn => "upn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Common English given names and their diminutives, both ways round. Kept here, apart from
/// any generator, so linkage is not tuned to the data it is tested on.
const DIMINUTIVES: &[(&str, &[&str])] = &[
    ("alexander", &["alex", "al", "sandy", "xander"]),
    ("alexandra", &["alex", "lexi", "sandra"]),
    ("benjamin", &["ben", "benny", "benji"]),
    ("catherine", &["cath", "cathy", "kate", "katie", "kat"]),
    ("katherine", &["kath", "kathy", "kate", "katie", "kat"]),
    ("charlotte", &["charlie", "lottie", "lotte"]),
    ("christopher", &["chris", "kit"]),
    ("daniel", &["dan", "danny"]),
    ("edward", &["ed", "eddie", "ted", "ned"]),
    (
        "elizabeth",
        &["liz", "lizzie", "beth", "betty", "eliza", "libby"],
    ),
    ("frederick", &["fred", "freddie"]),
    ("james", &["jim", "jimmy", "jamie"]),
    ("jacob", &["jake"]),
    ("jennifer", &["jen", "jenny"]),
    ("jessica", &["jess", "jessie"]),
    ("john", &["jack", "johnny"]),
    ("jonathan", &["jon", "jonny"]),
    ("joseph", &["joe", "joey"]),
    ("joshua", &["josh"]),
    ("margaret", &["maggie", "meg", "peggy", "maisie"]),
    ("matthew", &["matt", "matty"]),
    ("michael", &["mike", "mikey", "mick"]),
    ("nicholas", &["nick", "nicky"]),
    ("oliver", &["ollie", "olly"]),
    ("rebecca", &["becky", "becca"]),
    ("richard", &["rich", "rick", "dick", "richie"]),
    ("robert", &["rob", "robbie", "bob", "bobby", "bert"]),
    ("samuel", &["sam", "sammy"]),
    ("samantha", &["sam", "sammy"]),
    ("sophia", &["sophie"]),
    ("stephen", &["steve", "stevie"]),
    ("steven", &["steve", "stevie"]),
    ("thomas", &["tom", "tommy"]),
    ("victoria", &["vicky", "tori"]),
    ("william", &["will", "bill", "billy", "liam", "willie"]),
    ("abigail", &["abi", "abby", "gail"]),
    ("amelia", &["millie", "mia"]),
    ("isabella", &["bella", "izzy", "isabel"]),
    ("isabelle", &["bella", "izzy"]),
    ("olivia", &["liv", "livvy"]),
    ("emily", &["em", "emmy"]),
    ("eleanor", &["ellie", "nell", "nora"]),
    ("harriet", &["hattie", "harry"]),
    ("henry", &["harry", "hal"]),
    ("harrison", &["harry"]),
    ("anthony", &["tony", "ant"]),
    ("andrew", &["andy", "drew"]),
    ("patrick", &["pat", "paddy"]),
    ("philip", &["phil", "pip"]),
    ("peter", &["pete"]),
    ("susan", &["sue", "susie"]),
    ("theodore", &["theo", "ted"]),
    ("zachary", &["zac", "zach"]),
    ("mohammed", &["mo"]),
    ("muhammad", &["mo"]),
];

/// Whether one given name is a known diminutive of the other (or both of one name).
/// The full form of a given name that is a known diminutive (`bill` → `william`), else the
/// name: blocking keys use it, so a diminutive meets its full name.
fn canonical(given: &str) -> &str {
    DIMINUTIVES
        .iter()
        .find(|(full, short)| *full == given || short.contains(&given))
        .map_or(given, |(full, _)| full)
}

pub fn diminutive(a: &str, b: &str) -> bool {
    DIMINUTIVES.iter().any(|(full, short)| {
        let known = |x: &str| x == *full || short.contains(&x);
        a != b && known(a) && known(b)
    })
}

/// The match probability at or above which two records are the same person; between the
/// lower threshold (`kinship link --threshold`, 0.5 by default) and this, a person reviews.
pub const LINK_THRESHOLD: f64 = 0.9;

/// The comparisons, each graded into levels (0 = disagree; higher agrees more).
const COMPARISONS: [(&str, usize); N] = [
    ("name", 7),
    ("date_of_birth", 4),
    ("address", 5),
    ("sex", 2),
    ("identifier", 2),
];

/// How many comparisons there are.
const N: usize = 5;

/// People move: whatever EM says, at least this share of matches disagree on the address...
const MOVED: f64 = 0.05;
/// ...and at most this share. Unsupervised EM cannot tell a person who moved from two people
/// who share a common name and a birthday (in a population of a million there are thousands),
/// and left alone it counts the latter as moves and lets address disagreement say little.
const MOVED_AT_MOST: f64 = 0.3;

fn jw(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b)
}

/// The level of each comparison for a pair (`None` where either side lacks the field), and
/// whether the pair conflicts on a strong identifier.
fn compare(l: &Record, r: &Record) -> ([Option<u8>; N], bool) {
    fn both<'a>(a: &'a Option<String>, b: &'a Option<String>) -> Option<(&'a str, &'a str)> {
        Some((a.as_deref()?, b.as_deref()?))
    }
    let name = match (&l.given, &l.family, &r.given, &r.family) {
        (Some(gl), Some(fl), Some(gr), Some(fr)) => Some(if gl == gr && fl == fr {
            6
        } else if gl == fr && fl == gr {
            5
        } else if fl == fr && diminutive(gl, gr) {
            4
        } else if jw(gl, gr) >= 0.88 && jw(fl, fr) >= 0.88 {
            3
        } else if jw(fl, fr) >= 0.8 && gl.chars().next() == gr.chars().next() {
            2
        } else if gl == gr || fl == fr {
            1
        } else {
            0
        }),
        (_, Some(fl), _, Some(fr)) => Some(if fl == fr { 1 } else { 0 }),
        _ => None,
    };
    let dob = both(&l.dob, &r.dob).map(|(a, b)| {
        if a == b {
            return 3;
        }
        fn parts(d: &str) -> Option<(&str, &str, &str)> {
            let mut p = d.split('-');
            let (y, m, dd) = (p.next()?, p.next()?, p.next()?);
            (y.len() == 4 && m.len() == 2 && dd.len() == 2).then_some((y, m, dd))
        }
        match (parts(a), parts(b)) {
            (Some((ya, ma, da)), Some((yb, mb, db))) => {
                if ya == yb && ma == db && da == mb {
                    2
                } else if [ya == yb, ma == mb, da == db]
                    .iter()
                    .filter(|x| **x)
                    .count()
                    == 2
                {
                    1
                } else {
                    0
                }
            }
            _ => 0,
        }
    });
    // One comparison for where someone lives: postcode, address line and town move together,
    // so counting them apart would count one move three times.
    let postcode = both(&l.postcode, &r.postcode).map(|(a, b)| {
        if a == b {
            return 3;
        }
        // UK postcodes: the inward code is the last three characters.
        let uk = |p: &str| p.len() >= 5 && p.len() <= 7 && p.is_ascii();
        if uk(a) && uk(b) {
            let (oa, ia) = a.split_at(a.len() - 3);
            let (ob, ib) = b.split_at(b.len() - 3);
            if oa == ob && ia[..1] == ib[..1] {
                2
            } else if oa == ob {
                1
            } else {
                0
            }
        } else {
            0
        }
    });
    let line = both(&l.address_line, &r.address_line).map(|(a, b)| a == b || jw(a, b) >= 0.88);
    let town = both(&l.locality, &r.locality).map(|(a, b)| a == b);
    let address = match (postcode, line, town) {
        (Some(3), Some(true), _) => Some(4),
        (Some(p), _, _) if p > 0 => Some(p),
        (None, Some(true), _) => Some(3),
        (_, _, Some(true)) => Some(1),
        (None, None, None) => None,
        _ => Some(0),
    };
    let sex = both(&l.sex, &r.sex).map(|(a, b)| u8::from(a == b));
    let nhs = both(&l.nhs_number, &r.nhs_number).map(|(a, b)| a == b);
    let upn = both(&l.upn, &r.upn).map(|(a, b)| a == b);
    let conflict = nhs == Some(false) || upn == Some(false);
    let identifier = match (nhs, upn) {
        (Some(true), _) | (_, Some(true)) => Some(1),
        (Some(false), _) | (_, Some(false)) => Some(0),
        _ => None,
    };
    ([name, dob, address, sex, identifier], conflict)
}

/// Soundex of a normalised name: the phonetic code blocking uses.
fn soundex(name: &str) -> String {
    let code = |c: char| match c {
        'b' | 'f' | 'p' | 'v' => Some('1'),
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => Some('2'),
        'd' | 't' => Some('3'),
        'l' => Some('4'),
        'm' | 'n' => Some('5'),
        'r' => Some('6'),
        _ => None,
    };
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out = String::from(first);
    let mut last = code(first);
    for c in chars {
        let d = code(c);
        if d.is_some() && d != last {
            out.extend(d);
            if out.len() == 4 {
                break;
            }
        }
        if c != 'h' && c != 'w' {
            last = d;
        }
    }
    out
}

/// The blocking rules: a pair is a candidate when any rule gives both records the same key.
/// Names enter as an unordered pair, so names typed the other way round still meet. Together
/// the rules lose almost no true pair (a typo changes a name's initial rarely, its sound
/// less often than its spelling) while each keeps blocks small at a million records: date of
/// birth with the names' initials; the names' sounds with the year of birth (for a wrong day
/// or month); the names' sounds with the postcode district (for a wrong year); NHS number; UPN.
type BlockKeys = [Option<String>; 6];

fn block_keys(r: &Record) -> BlockKeys {
    let year = r
        .dob
        .as_deref()
        .map(|d| d.chars().take(4).collect::<String>());
    let district = r
        .postcode
        .as_deref()
        .filter(|p| p.len() >= 5)
        .map(|p| &p[..p.len() - 3]);
    let pair = |a: String, b: String| {
        if a <= b {
            format!("{a}|{b}")
        } else {
            format!("{b}|{a}")
        }
    };
    // Initials as typed (a typo keeps the first letter; a diminutive may not, and the sounds
    // rules below use its full name), sounds of the full name.
    let given = r.given.as_deref().map(canonical);
    let initials = r
        .given
        .as_deref()
        .zip(r.family.as_deref())
        .map(|(g, f)| pair(g.chars().take(1).collect(), f.chars().take(1).collect()));
    let sounds = given
        .zip(r.family.as_deref())
        .map(|(g, f)| pair(soundex(g), soundex(f)));
    [
        r.dob
            .as_deref()
            .zip(initials)
            .map(|(d, i)| format!("{d}|{i}")),
        sounds
            .as_deref()
            .zip(year.as_deref())
            .map(|(s, y)| format!("{s}|{y}")),
        sounds
            .as_deref()
            .zip(district)
            .map(|(s, d)| format!("{s}|{d}")),
        r.nhs_number.clone(),
        r.upn.clone(),
        // The sounds of the name, for pairs where one side has no date of birth (see
        // [`NO_DATE_RULE`]): a record that lost its date and its address still meets its
        // person on the name.
        sounds.clone(),
    ]
}

/// The rule that pairs records by the sounds of their name, and only where one lacks a date
/// of birth: with dates on both sides the other rules see the pair, and a name alone would put
/// thousands of common-name pairs into the comparison.
const NO_DATE_RULE: usize = 5;

/// The comparisons each blocking rule forces to agree (indexes into [`COMPARISONS`]): date of
/// birth (the initials leave the names' comparison informative); names and date of birth;
/// names and address; NHS number; UPN; names (for pairs missing a date).
const RULE_EXCLUDES: [&[usize]; 6] = [&[1], &[0, 1], &[0, 2], &[4], &[4], &[0]];

/// Blocks larger than this are not compared within (a value shared by thousands of records,
/// a placeholder date say, tells nothing); they are counted in the summary.
const MAX_BLOCK: usize = 2_000;

/// Link the records of `left` with those of `right`, or deduplicate `left` when `right` is
/// `None`.
pub struct Linker<'a> {
    pub left: &'a [Record],
    pub right: Option<&'a [Record]>,
}

/// A scored candidate pair: indexes into left and right (or both into left).
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub l: u32,
    pub r: u32,
    pub probability: f64,
    /// The match weight (log2 Bayes factor) of each comparison, `None` where missing.
    pub weights: [Option<f64>; N],
    /// The level of each comparison, `None` where missing.
    pub levels: [Option<u8>; N],
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub pairs_compared: u64,
    pub blocks_skipped: u64,
}

/// The fitted model: m and u per comparison level.
#[derive(Clone, Debug)]
struct Model {
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    lambda: f64,
}

impl Linker<'_> {
    fn right(&self) -> &[Record] {
        self.right.unwrap_or(self.left)
    }

    /// Each record's blocking keys, left then right (`None` when deduplicating).
    fn keys(&self) -> (Vec<BlockKeys>, Option<Vec<BlockKeys>>) {
        (
            self.left.iter().map(block_keys).collect(),
            self.right.map(|r| r.iter().map(block_keys).collect()),
        )
    }

    /// Candidate pairs from the blocking rules, each once, with the first rule that gave it.
    fn candidates(
        &self,
        left_keys: &[BlockKeys],
        right_keys: &[BlockKeys],
        summary: &mut Summary,
    ) -> Vec<(u32, u32, u8)> {
        let rules = RULE_EXCLUDES.len();
        let mut out = Vec::new();
        for rule in 0..rules {
            let mut blocks: HashMap<&str, (Vec<u32>, Vec<u32>)> = HashMap::new();
            for (i, k) in left_keys.iter().enumerate() {
                if let Some(k) = &k[rule] {
                    blocks.entry(k).or_default().0.push(i as u32);
                }
            }
            if self.right.is_some() {
                for (i, k) in right_keys.iter().enumerate() {
                    if let Some(k) = &k[rule] {
                        blocks.entry(k).or_default().1.push(i as u32);
                    }
                }
            }
            // A pair an earlier rule already produced is skipped, so each pair comes once; the
            // whole-name rule takes only pairs where a date of birth is missing.
            let right = self.right();
            let earlier = |l: u32, r: u32| {
                (rule == NO_DATE_RULE
                    && self.left[l as usize].dob.is_some()
                    && right[r as usize].dob.is_some())
                    || (0..rule).any(|e| {
                        matches!((&left_keys[l as usize][e], &right_keys[r as usize][e]), (Some(a), Some(b)) if a == b)
                    })
            };
            for (ls, rs) in blocks.values() {
                let size = if self.right.is_some() {
                    ls.len().max(rs.len())
                } else {
                    ls.len()
                };
                if size > MAX_BLOCK {
                    summary.blocks_skipped += 1;
                    continue;
                }
                if self.right.is_some() {
                    for &l in ls {
                        for &r in rs {
                            if !earlier(l, r) {
                                out.push((l, r, rule as u8));
                            }
                        }
                    }
                } else {
                    for (a, &l) in ls.iter().enumerate() {
                        for &r in &ls[a + 1..] {
                            if !earlier(l, r) {
                                out.push((l, r, rule as u8));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// u probabilities from random pairs: how often records that are (almost surely) not the
    /// same person agree at each level by chance.
    fn u_from_random_pairs(&self) -> Vec<Vec<f64>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6b696e73);
        let mut counts: Vec<Vec<f64>> = COMPARISONS.iter().map(|(_, n)| vec![1.0; *n]).collect();
        let (nl, nr) = (self.left.len(), self.right().len());
        if nl == 0 || nr == 0 {
            return normalise(counts);
        }
        let samples = (nl * nr).min(300_000);
        for _ in 0..samples {
            let (l, r) = (rng.random_range(0..nl), rng.random_range(0..nr));
            if self.right.is_none() && l == r {
                continue;
            }
            let (levels, _) = compare(&self.left[l], &self.right()[r]);
            for (c, level) in levels.iter().enumerate() {
                if let Some(level) = level {
                    counts[c][*level as usize] += 1.0;
                }
            }
        }
        normalise(counts)
    }

    /// Scores every candidate pair. u comes from random pairs. m is estimated by EM within the
    /// pairs of each blocking rule, leaving out the comparisons that rule forces to agree
    /// (among pairs chosen for agreeing on a date of birth, only the other fields tell matches
    /// from non-matches), and averaged over the rules. The prior is the share of all pairs
    /// that match, estimated from the pairs agreeing on date of birth.
    pub fn run(&self) -> (Vec<Scored>, Summary) {
        let mut summary = Summary::default();
        let (left_keys, right_keys) = self.keys();
        let right_keys = right_keys.as_deref().unwrap_or(&left_keys);
        let pairs = self.candidates(&left_keys, right_keys, &mut summary);
        summary.pairs_compared = pairs.len() as u64;
        let compared: Vec<([Option<u8>; N], bool)> = pairs
            .iter()
            .map(|&(l, r, _)| compare(&self.left[l as usize], &self.right()[r as usize]))
            .collect();
        let u = self.u_from_random_pairs();
        let start_m: Vec<Vec<f64>> = COMPARISONS
            .iter()
            .map(|(_, n)| {
                let v: Vec<f64> = (0..*n).map(|i| 4f64.powi(i as i32)).collect();
                normalise(vec![v]).remove(0)
            })
            .collect();
        let mut estimates: Vec<Vec<Vec<f64>>> = vec![Vec::new(); COMPARISONS.len()];
        let mut dob_rule: Option<(f64, usize)> = None;
        for (rule, excluded) in RULE_EXCLUDES.iter().enumerate() {
            // Every candidate pair the rule would produce, not only those no earlier rule did:
            // a rule's pairs must be a fair sample of what agrees on its key.
            let in_rule: Vec<&[Option<u8>; N]> = pairs
                .iter()
                .zip(&compared)
                .filter(|((l, r, _), (_, conflict))| {
                    !*conflict
                        && matches!(
                            (&left_keys[*l as usize][rule], &right_keys[*r as usize][rule]),
                            (Some(a), Some(b)) if a == b
                        )
                })
                .map(|(_, (levels, _))| levels)
                .collect();
            if in_rule.len() < 50 {
                continue;
            }
            let mut model = Model {
                m: start_m.clone(),
                u: u.clone(),
                lambda: 0.1,
            };
            for _ in 0..40 {
                let mut counts: Vec<Vec<f64>> =
                    COMPARISONS.iter().map(|(_, n)| vec![1e-3; *n]).collect();
                let mut total = 0.0;
                for levels in &in_rule {
                    let g = model.posterior_without(levels, excluded);
                    total += g;
                    for (c, level) in levels.iter().enumerate() {
                        if let Some(level) = level {
                            counts[c][*level as usize] += g;
                        }
                    }
                }
                let lambda = (total / in_rule.len() as f64).clamp(1e-6, 1.0 - 1e-6);
                let m = normalise(counts);
                let shift = (lambda - model.lambda).abs()
                    + m.iter()
                        .zip(&model.m)
                        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                        .sum::<f64>();
                model.lambda = lambda;
                model.m = m;
                if shift < 1e-6 {
                    break;
                }
            }
            for (c, m) in model.m.iter().enumerate() {
                if !excluded.contains(&c) {
                    estimates[c].push(m.clone());
                }
            }
            if rule == 0 {
                dob_rule = Some((model.lambda, in_rule.len()));
            }
        }
        let m: Vec<Vec<f64>> = estimates
            .iter()
            .zip(&start_m)
            .map(|(e, start)| {
                if e.is_empty() {
                    return start.clone();
                }
                let mut avg = vec![0.0; start.len()];
                for v in e {
                    avg.iter_mut()
                        .zip(v)
                        .for_each(|(a, x)| *a += x / e.len() as f64);
                }
                avg
            })
            .collect();
        // Matches agreeing on date of birth, over the share of matches that do, over all pairs.
        let (nl, nr) = (self.left.len() as f64, self.right().len() as f64);
        let all_pairs = if self.right.is_some() {
            nl * nr
        } else {
            nl * (nl - 1.0) / 2.0
        };
        let matches = match dob_rule {
            Some((lambda, n)) => lambda * n as f64 / m[1][3].max(0.05),
            // No date of birth to count by: at most one match per record of the smaller side.
            None => nl.min(nr) / 2.0,
        };
        let lambda = (matches / all_pairs.max(1.0)).clamp(1e-12, 0.5);
        let mut m = m;
        let moved = m[2][0].clamp(MOVED, MOVED_AT_MOST);
        if moved != m[2][0] {
            let rest: f64 = m[2][1..].iter().sum();
            m[2][0] = moved;
            m[2][1..]
                .iter_mut()
                .for_each(|x| *x *= (1.0 - moved) / rest);
        }
        let model = Model { m, u, lambda };
        let tf = self.frequencies();
        let scored = pairs
            .iter()
            .zip(&compared)
            .map(|(&(l, r, _), (levels, conflict))| {
                let tf = tf.of(&self.left[l as usize], levels);
                Scored {
                    l,
                    r,
                    probability: if *conflict {
                        0.0
                    } else {
                        model.posterior(levels, &tf)
                    },
                    weights: model.weights(levels, &tf),
                    levels: *levels,
                }
            })
            .collect();
        (scored, summary)
    }

    fn frequencies(&self) -> Frequencies {
        let mut f = Frequencies::default();
        for r in self.left.iter().chain(self.right.into_iter().flatten()) {
            if let (Some(g), Some(fam)) = (&r.given, &r.family) {
                *f.family.entry(fam.clone()).or_default() += 1.0;
                *f.given.entry((g.clone(), birth_year(r))).or_default() += 1.0;
                *f.cohort.entry(birth_year(r)).or_default() += 1.0;
                f.named += 1.0;
            }
            if let Some(d) = &r.dob {
                *f.dob.entry(d.clone()).or_default() += 1.0;
                f.dated += 1.0;
            }
        }
        f
    }
}

fn birth_year(r: &Record) -> Option<u16> {
    r.dob.as_deref()?.get(..4)?.parse().ok()
}

/// How common each value is, for weighting exact agreement on it: names (given names within
/// their birth year, since a name's popularity follows the year) and dates of birth.
#[derive(Default)]
struct Frequencies {
    family: HashMap<String, f64>,
    given: HashMap<(String, Option<u16>), f64>,
    cohort: HashMap<Option<u16>, f64>,
    dob: HashMap<String, f64>,
    named: f64,
    dated: f64,
}

impl Frequencies {
    /// For a pair agreeing exactly on name or date of birth, the chance that a random other
    /// record has this record's value: u for that comparison.
    fn of(&self, r: &Record, levels: &[Option<u8>; N]) -> [Option<f64>; N] {
        let mut out = [None; N];
        if levels[0] == Some(6)
            && let (Some(g), Some(f)) = (&r.given, &r.family)
        {
            let year = birth_year(r);
            let p_family = self.family.get(f).copied().unwrap_or(1.0) / self.named.max(1.0);
            let p_given = self.given.get(&(g.clone(), year)).copied().unwrap_or(1.0)
                / self.cohort.get(&year).copied().unwrap_or(1.0).max(1.0);
            out[0] = Some((p_family * p_given).max(1e-12));
        }
        if levels[1] == Some(3)
            && let Some(d) = &r.dob
        {
            out[1] =
                Some((self.dob.get(d).copied().unwrap_or(1.0) / self.dated.max(1.0)).max(1e-12));
        }
        out
    }
}

fn normalise(counts: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    counts
        .into_iter()
        .map(|v| {
            let s: f64 = v.iter().sum();
            v.into_iter().map(|x| x / s).collect()
        })
        .collect()
}

impl Model {
    /// The match weight (log2 m/u) of each comparison; `tf` replaces u where the pair agrees
    /// exactly on a value whose own frequency is known.
    fn weights(&self, levels: &[Option<u8>; N], tf: &[Option<f64>; N]) -> [Option<f64>; N] {
        let mut out = [None; N];
        for (c, level) in levels.iter().enumerate() {
            if let Some(level) = level {
                let l = *level as usize;
                let u = tf[c].unwrap_or(self.u[c][l]);
                out[c] = Some((self.m[c][l].max(1e-12) / u.max(1e-12)).log2());
            }
        }
        out
    }

    /// [`Model::posterior`] leaving out some comparisons, and with no name frequencies.
    fn posterior_without(&self, levels: &[Option<u8>; N], excluded: &[usize]) -> f64 {
        let mut kept = *levels;
        for c in excluded {
            kept[*c] = None;
        }
        self.posterior(&kept, &[None; N])
    }

    /// The probability that a pair with these levels is a match.
    fn posterior(&self, levels: &[Option<u8>; N], tf: &[Option<f64>; N]) -> f64 {
        let prior = (self.lambda / (1.0 - self.lambda)).log2();
        let total: f64 = prior + self.weights(levels, tf).iter().flatten().sum::<f64>();
        1.0 / (1.0 + 2f64.powf(-total))
    }
}

/// The comparisons' names, in the order of [`Scored::weights`].
pub fn comparison_names() -> [&'static str; N] {
    COMPARISONS.map(|(n, _)| n)
}

/// Whether a name level is agreement enough to link without a person deciding: both names
/// similar, a diminutive, swapped, or exact. The same family name and initial is not: twins
/// Tobias and Theo share both.
pub fn names_agree(level: Option<u8>) -> bool {
    level.is_some_and(|l| l >= 3)
}

/// Each comparison's levels in words, lowest (disagree) first.
const LEVEL_WORDS: [&[&str]; N] = [
    &[
        "disagree",
        "only the given or only the family name agrees",
        "similar family name and the same initial",
        "similar given and family names",
        "a diminutive of the given name",
        "given and family names swapped",
        "agree exactly",
    ],
    &[
        "disagrees",
        "differs in one part",
        "has day and month swapped",
        "agrees exactly",
    ],
    &[
        "differs",
        "shares only the town or postcode district",
        "shares the postcode sector",
        "shares the postcode",
        "shares the postcode and address line",
    ],
    &["differs", "agrees"],
    &["differ", "agree"],
];

/// One comparison of a scored pair, for explanations.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub name: String,
    pub level: u8,
    /// The level in words.
    pub label: String,
    /// The match weight (log2 Bayes factor) it added.
    pub weight: f64,
}

/// A pair scored by the [`Scorer`]: its probability and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairScore {
    pub probability: f64,
    /// The prior's weight: how unlikely a match is before any comparison.
    pub prior: f64,
    pub comparisons: Vec<Comparison>,
    /// Whether the names agree well enough for an automatic link (see [`Scorer`]).
    pub names_agree: bool,
}

impl PairScore {
    /// The score in words and numbers, e.g. "match probability 0.998: name agree exactly
    /// (+13.0), date of birth agrees exactly (+12.6), …".
    pub fn explain(&self) -> String {
        let parts: Vec<String> = self
            .comparisons
            .iter()
            .map(|c| {
                format!(
                    "{} {} ({:+.1})",
                    c.name.replace('_', " "),
                    c.label,
                    c.weight
                )
            })
            .collect();
        format!(
            "match probability {:.3}: prior {:+.1}, {}",
            self.probability,
            self.prior,
            parts.join(", ")
        )
    }
}

/// The model the sync engine links arriving records with, one record against the persons the
/// graph already holds. There are no pairs to fit m by EM on while records arrive one batch at
/// a time, so m and u are set from what they measure rather than fitted:
///
/// - m (how often a true match shows each level) from the error rates agencies' records show:
///   a name typed differently in about one record in ten, a date of birth wrong in about one
///   in twenty, an address changed by a move in about one in six;
/// - u (how often two different people show it) from how values spread in a population: a
///   date of birth shared by one pair in about 6,500 (eighteen years of birthdays), a full name
///   by about one in 10,000, a postcode by about one in 1,000;
/// - the prior from the size of the graph: a record's person is, at best, one of the persons
///   held, so each candidate starts at odds of one in twice the number of persons.
///
/// Two records whose names do not agree (given names unrelated, or only their initials the
/// same: a sibling, a twin) are never linked automatically, however much else agrees: at
/// most they go to review.
#[derive(Clone, Debug)]
pub struct Scorer {
    model: Model,
}

/// The prior probability that a record matches a given person of a graph of `persons`.
fn prior(persons: u64) -> f64 {
    0.5 / (persons.max(1) as f64 + 0.5)
}

impl Scorer {
    /// The scorer for a graph holding `persons` persons.
    pub fn standard(persons: u64) -> Self {
        let m = vec![
            vec![0.005, 0.005, 0.03, 0.06, 0.02, 0.01, 0.87],
            vec![0.01, 0.04, 0.01, 0.94],
            vec![0.12, 0.03, 0.02, 0.08, 0.75],
            vec![0.02, 0.98],
            vec![0.001, 0.999],
        ];
        let u = vec![
            vec![0.97, 0.028, 0.0015, 0.0004, 0.00005, 0.00001, 0.0001],
            vec![0.94, 0.06, 0.0001, 0.00015],
            vec![0.9, 0.08, 0.015, 0.004, 0.001],
            vec![0.5, 0.5],
            vec![0.999_999, 0.000_001],
        ];
        Self {
            model: Model {
                m,
                u,
                lambda: prior(persons),
            },
        }
    }

    /// Takes the graph to hold `persons` persons now (as records of a batch make new ones).
    pub fn set_persons(&mut self, persons: u64) {
        self.model.lambda = prior(persons);
    }

    /// Scores a pair in the file linker's form (the indexes are the caller's to set); `None`
    /// when the two disagree on a strong identifier.
    pub fn rescore(&self, l: &Record, r: &Record) -> Option<Scored> {
        let (levels, conflict) = compare(l, r);
        if conflict {
            return None;
        }
        let none = [None; N];
        Some(Scored {
            l: 0,
            r: 0,
            probability: self.model.posterior(&levels, &none),
            weights: self.model.weights(&levels, &none),
            levels,
        })
    }

    /// Scores a pair; `None` when the two disagree on a strong identifier (never a match).
    pub fn score(&self, l: &Record, r: &Record) -> Option<PairScore> {
        let (levels, conflict) = compare(l, r);
        if conflict {
            return None;
        }
        let none = [None; N];
        let lambda = self.model.lambda;
        Some(PairScore::of(
            self.model.posterior(&levels, &none),
            (lambda / (1.0 - lambda)).log2(),
            &levels,
            &self.model.weights(&levels, &none),
        ))
    }
}

impl PairScore {
    /// A score from its parts: the probability, the prior's weight, and each comparison's
    /// level and weight.
    fn of(
        probability: f64,
        prior: f64,
        levels: &[Option<u8>; N],
        weights: &[Option<f64>; N],
    ) -> Self {
        let comparisons = levels
            .iter()
            .zip(weights)
            .enumerate()
            .filter_map(|(c, (level, weight))| {
                let (level, weight) = (level.as_ref()?, weight.as_ref()?);
                Some(Comparison {
                    name: COMPARISONS[c].0.to_owned(),
                    level: *level,
                    label: LEVEL_WORDS[c][*level as usize].to_owned(),
                    weight: (weight * 10.0).round() / 10.0,
                })
            })
            .collect();
        Self {
            probability,
            prior: (prior * 10.0).round() / 10.0,
            comparisons,
            names_agree: names_agree(levels[0]),
        }
    }
}

impl Scored {
    /// The pair's score explained. The prior is what the probability and the weights imply.
    pub fn explained(&self) -> PairScore {
        let p = self.probability.clamp(1e-15, 1.0 - 1e-15);
        let total = (p / (1.0 - p)).log2();
        let prior = total - self.weights.iter().flatten().sum::<f64>();
        PairScore::of(self.probability, prior, &self.levels, &self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(given: &str, family: &str, dob: &str, postcode: &str) -> Record {
        let mut f = HashMap::new();
        f.insert(Field::GivenName, given.to_owned());
        f.insert(Field::FamilyName, family.to_owned());
        f.insert(Field::DateOfBirth, dob.to_owned());
        f.insert(Field::Postcode, postcode.to_owned());
        Record::new(&f)
    }

    #[test]
    fn names_compare_with_typos_swaps_and_diminutives() {
        let a = rec("William", "Smith", "2015-03-04", "AB1 2CD");
        let levels = |b: &Record| compare(&a, b).0;
        assert_eq!(levels(&a)[0], Some(6));
        assert_eq!(levels(&rec("Smith", "William", "", ""))[0], Some(5));
        assert_eq!(levels(&rec("Bill", "Smith", "", ""))[0], Some(4));
        assert_eq!(levels(&rec("Wiliam", "Smyth", "", ""))[0], Some(3));
        assert_eq!(levels(&rec("Aisha", "Khan", "", ""))[0], Some(0));
        // Dates: day and month swapped, one part wrong, a value that is not a date.
        assert_eq!(levels(&rec("", "", "2015-04-03", ""))[1], Some(2));
        assert_eq!(levels(&rec("", "", "2016-03-04", ""))[1], Some(1));
        assert_eq!(levels(&rec("", "", "04/03/2015", ""))[1], Some(0));
        // Postcodes: sector, district, a foreign one compared as a string.
        assert_eq!(levels(&rec("", "", "", "AB1 2XY"))[2], Some(2));
        assert_eq!(levels(&rec("", "", "", "AB1 9XY"))[2], Some(1));
        assert_eq!(levels(&rec("", "", "", "75001"))[2], Some(0));
        assert_eq!(
            compare(&rec("", "", "", "75001"), &rec("", "", "", "75001")).0[2],
            Some(3)
        );
        assert_eq!(levels(&rec("", "", "", ""))[2], None);
        assert_eq!(soundex("robert"), "r163");
        assert_eq!(soundex("rupert"), "r163");
        assert_eq!(clean_dob("20150304").as_deref(), Some("2015-03-04"));
    }

    #[test]
    fn a_scorer_follows_the_graph_as_it_grows() {
        // The same pair is less likely one person in a graph of 50,000 than of 10: a batch
        // that began on an empty store moves its scorer on as it makes persons.
        let (a, b) = (
            rec("William", "Smith", "2015-03-04", "AB1 2CD"),
            rec("Bill", "Smith", "2015-03-04", "AB1 9XY"),
        );
        let p = |s: &Scorer| s.score(&a, &b).unwrap().probability;
        let mut grown = Scorer::standard(10);
        let small = p(&grown);
        grown.set_persons(50_000);
        assert_eq!(p(&grown), p(&Scorer::standard(50_000)));
        assert!(p(&grown) < small, "{} against {small}", p(&grown));
    }
}
