//! Person identifiers and their check digits (NHS number Modulus 11, UPN check letter, PNC
//! ID check letter). Connectors validate what they read with these; the hub checks with the
//! same code, so a value a connector accepts is one the hub accepts. Parsing normalises;
//! errors name the identifier type, never the value.

use std::fmt;
use std::str::FromStr;

/// Why an identifier was refused. Holds no part of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Not the right length or characters.
    #[error("{0} is not well formed")]
    Malformed(&'static str),
    /// Well formed, but the check digit or letter does not match.
    #[error("{0} fails its check")]
    CheckFailed(&'static str),
}

/// A valid NHS number: ten digits whose tenth is the Modulus 11 check of the first nine.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NhsNumber([u8; 10]);

impl NhsNumber {
    const NAME: &'static str = "NHS number";

    /// The Modulus 11 check digit of nine digits, or `None` when the check is 10 (no valid
    /// number has these first nine digits).
    pub fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
        let sum: u32 = first_nine
            .iter()
            .zip((2..=10).rev())
            .map(|(d, w)| u32::from(*d) * w)
            .sum();
        match 11 - (sum % 11) {
            11 => Some(0),
            10 => None,
            c => u8::try_from(c).ok(),
        }
    }

    /// A valid number from nine digits, or `None` when no check digit exists for them.
    pub fn from_first_nine(first_nine: [u8; 9]) -> Option<Self> {
        let check = Self::check_digit(&first_nine)?;
        let mut digits = [0u8; 10];
        digits[..9].copy_from_slice(&first_nine);
        digits[9] = check;
        Some(Self(digits))
    }
}

impl FromStr for NhsNumber {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut digits = [0u8; 10];
        let mut n = 0;
        for c in s.chars().filter(|c| !matches!(c, ' ' | '-')) {
            let d = c
                .to_digit(10)
                .ok_or(IdentifierError::Malformed(Self::NAME))?;
            if n == 10 {
                return Err(IdentifierError::Malformed(Self::NAME));
            }
            digits[n] = u8::try_from(d).map_err(|_| IdentifierError::Malformed(Self::NAME))?;
            n += 1;
        }
        if n != 10 {
            return Err(IdentifierError::Malformed(Self::NAME));
        }
        let mut first = [0u8; 9];
        first.copy_from_slice(&digits[..9]);
        match Self::check_digit(&first) {
            Some(c) if c == digits[9] => Ok(Self(digits)),
            _ => Err(IdentifierError::CheckFailed(Self::NAME)),
        }
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(<redacted>)")
    }
}

/// The letters a UPN check (and a temporary UPN's last character) may use, valued 0 to 22.
const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// A valid Unique Pupil Number (permanent or temporary).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Upn(String);

impl Upn {
    const NAME: &'static str = "UPN";

    /// The check letter of the twelve characters after it (the last may be a letter for a
    /// temporary UPN), or `None` when they are not of UPN form.
    pub fn check_letter(rest: &[u8; 12]) -> Option<u8> {
        let mut sum = 0u32;
        for (i, c) in rest.iter().enumerate() {
            let value = match c {
                b'0'..=b'9' => u32::from(c - b'0'),
                _ if i == 11 => u32::try_from(UPN_LETTERS.iter().position(|l| l == c)?).ok()?,
                _ => return None,
            };
            sum += value * u32::try_from(i + 2).ok()?;
        }
        UPN_LETTERS.get(usize::try_from(sum % 23).ok()?).copied()
    }

    /// A valid UPN from an LA number, establishment number, two-digit year and serial.
    pub fn permanent(la: u16, estab: u16, year: u8, serial: u16) -> Option<Self> {
        let rest = format!("{la:03}{estab:04}{year:02}{serial:03}");
        let rest: [u8; 12] = rest.as_bytes().try_into().ok()?;
        let check = Self::check_letter(&rest)?;
        let mut s = String::with_capacity(13);
        s.push(char::from(check));
        s.push_str(std::str::from_utf8(&rest).ok()?);
        Some(Self(s))
    }
}

impl FromStr for Upn {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 13 || !UPN_LETTERS.contains(&b[0]) {
            return Err(IdentifierError::Malformed(Self::NAME));
        }
        let body_ok = b[1..12].iter().all(u8::is_ascii_digit)
            && (b[12].is_ascii_digit() || UPN_LETTERS.contains(&b[12]));
        if !body_ok {
            return Err(IdentifierError::Malformed(Self::NAME));
        }
        let rest: [u8; 12] = b[1..]
            .try_into()
            .map_err(|_| IdentifierError::Malformed(Self::NAME))?;
        match Self::check_letter(&rest) {
            Some(c) if c == b[0] => Ok(Self(s)),
            _ => Err(IdentifierError::CheckFailed(Self::NAME)),
        }
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Upn(<redacted>)")
    }
}

/// The PNC check letters, indexed by `n mod 23`.
const PNC_LETTERS: &[u8; 23] = b"ZABCDEFGHJKLMNPQRTUVWXY";

/// A valid PNC ID, held in the long canonical form `YYYY/NNNNNNNC`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PncId {
    year: u16,
    serial: u32,
    check: u8,
}

impl PncId {
    const NAME: &'static str = "PNC ID";

    fn letter(year: u16, serial: u32) -> u8 {
        let n = u64::from(year % 100) * 10_000_000 + u64::from(serial);
        PNC_LETTERS[usize::try_from(n % 23).unwrap_or(0)]
    }

    /// A valid PNC ID for a four-digit year and a serial under 10,000,000.
    pub fn new(year: u16, serial: u32) -> Option<Self> {
        (serial < 10_000_000 && (1900..2100).contains(&year)).then(|| Self {
            year,
            serial,
            check: Self::letter(year, serial),
        })
    }

    /// Parses with an explicit current year, which decides the century of a two-digit year.
    pub fn parse_at(s: &str, current_year: i32) -> Result<Self, IdentifierError> {
        let s = s.trim().to_ascii_uppercase();
        let malformed = IdentifierError::Malformed(Self::NAME);
        let (check, body) = match s.as_bytes().split_last() {
            Some((c, body)) if c.is_ascii_uppercase() => (*c, body),
            _ => return Err(malformed),
        };
        let body = std::str::from_utf8(body).map_err(|_| malformed)?;
        let (year_part, serial_part) = match body.split_once('/') {
            Some(parts) => parts,
            None if body.len() >= 3 => body.split_at(if body.len() > 9 { 4 } else { 2 }),
            None => return Err(malformed),
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(year_part) || !digits(serial_part) || serial_part.len() > 7 {
            return Err(malformed);
        }
        let year: u16 = match year_part.len() {
            4 => year_part.parse().map_err(|_| malformed)?,
            2 => {
                let yy: u16 = year_part.parse().map_err(|_| malformed)?;
                let current = u16::try_from(current_year.rem_euclid(100)).unwrap_or(0);
                if yy <= current { 2000 + yy } else { 1900 + yy }
            }
            _ => return Err(malformed),
        };
        let serial: u32 = serial_part.parse().map_err(|_| malformed)?;
        let id = Self::new(year, serial).ok_or(malformed)?;
        if id.check == check {
            Ok(id)
        } else {
            Err(IdentifierError::CheckFailed(Self::NAME))
        }
    }
}

impl FromStr for PncId {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use chrono::Datelike;
        Self::parse_at(s, chrono::Utc::now().year())
    }
}

impl fmt::Display for PncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}/{:07}{}",
            self.year,
            self.serial,
            char::from(self.check)
        )
    }
}

impl fmt::Debug for PncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PncId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nhs_numbers_from_the_domain_reference() {
        assert!("9434765919".parse::<NhsNumber>().is_ok());
        assert!("943 476 5919".parse::<NhsNumber>().is_ok());
        assert!("943-476-5919".parse::<NhsNumber>().is_ok());
        assert!("9990000018".parse::<NhsNumber>().is_ok());
        assert!(
            "9990000050".parse::<NhsNumber>().is_ok(),
            "check 11 becomes 0"
        );
        assert_eq!(
            "9990000019".parse::<NhsNumber>(),
            Err(IdentifierError::CheckFailed("NHS number"))
        );
        assert_eq!(
            "99900000".parse::<NhsNumber>(),
            Err(IdentifierError::Malformed("NHS number"))
        );
        assert_eq!(
            "99900000181".parse::<NhsNumber>(),
            Err(IdentifierError::Malformed("NHS number"))
        );
        for last in 0..=9 {
            let s = format!("999000000{last}");
            assert!(
                s.parse::<NhsNumber>().is_err(),
                "nothing starting 999000000 is valid"
            );
        }
    }

    #[test]
    fn upns_from_the_domain_reference() {
        assert_eq!(
            "B801200005001".parse::<Upn>().map(|u| u.to_string()).ok(),
            Some("B801200005001".into())
        );
        assert!("b801200005001".parse::<Upn>().is_ok(), "upper-cased first");
        assert_eq!(
            "A801200005001".parse::<Upn>(),
            Err(IdentifierError::CheckFailed("UPN"))
        );
        assert!("P93820150001A".parse::<Upn>().is_ok(), "temporary UPN");
        assert!(
            "I801200005001".parse::<Upn>().is_err(),
            "I is not a check letter"
        );
        assert_eq!(
            Upn::permanent(801, 2000, 5, 1).map(|u| u.to_string()),
            Some("B801200005001".into())
        );
    }

    #[test]
    fn pnc_ids_from_the_domain_reference() {
        let long = PncId::parse_at("2001/0012345H", 2026).expect("long form");
        let short = PncId::parse_at("01/12345H", 2026).expect("short form");
        assert_eq!(long, short);
        assert_eq!(long.to_string(), "2001/0012345H");
        assert_eq!(PncId::parse_at("99/12345Z", 2026).map(|p| p.year), Ok(1999));
        assert_eq!(
            PncId::parse_at("2001/0012345J", 2026),
            Err(IdentifierError::CheckFailed("PNC ID"))
        );
        assert!(PncId::parse_at("200100123454", 2026).is_err());
    }

    #[test]
    fn errors_never_contain_the_value() {
        let e = "9990000019".parse::<NhsNumber>().expect_err("invalid");
        assert!(!e.to_string().contains("999"));
        assert!(!format!("{:?}", "9434765919".parse::<NhsNumber>()).contains("943"));
    }

    proptest! {
        #[test]
        fn every_generated_nhs_number_validates(first in proptest::array::uniform9(0u8..10)) {
            if let Some(n) = NhsNumber::from_first_nine(first) {
                prop_assert_eq!(n.to_string().parse::<NhsNumber>(), Ok(n));
            }
        }

        #[test]
        fn any_one_digit_change_is_rejected(
            first in proptest::array::uniform9(0u8..10),
            pos in 0usize..10,
            delta in 1u8..10,
        ) {
            if let Some(n) = NhsNumber::from_first_nine(first) {
                let mut digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').collect();
                digits[pos] = (digits[pos] + delta) % 10;
                let changed: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
                prop_assert!(changed.parse::<NhsNumber>().is_err());
            }
        }

        #[test]
        fn every_generated_upn_validates(la in 0u16..1000, estab in 0u16..10000, year in 0u8..100, serial in 0u16..1000) {
            let upn = Upn::permanent(la, estab, year, serial);
            prop_assert!(upn.is_some());
            if let Some(u) = upn {
                prop_assert!(u.to_string().parse::<Upn>().is_ok());
            }
        }

        #[test]
        fn every_pnc_id_round_trips(year in 1950u16..2026, serial in 0u32..10_000_000) {
            if let Some(id) = PncId::new(year, serial) {
                prop_assert_eq!(PncId::parse_at(&id.to_string(), 2026), Ok(id));
            }
        }
    }
}
