//! Backup codes themselves: alphabets, generation from the OS CSPRNG, and the
//! normalisation of what a person types.
//!
//! A plain code only ever lives in a [`PlainCode`] (zeroised on drop) or in a
//! [`Zeroizing`] buffer returned by [`normalize`].

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use rand::TryRng;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The most input bytes looked at; longer input is a wrong code.
pub const MAX_INPUT_LEN: usize = 128;

/// Symbols are shown in groups of this many, joined by hyphens.
const GROUP_LEN: usize = 5;

/// Which symbols a code is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    /// Crockford base32: `0-9A-Z` without `I L O U`, 5 bits a symbol.
    Crockford,
    /// Decimal digits, about 3.3 bits a symbol, for keypads.
    Digits,
}

impl Alphabet {
    fn symbols(self) -> &'static [u8] {
        match self {
            Self::Crockford => b"0123456789ABCDEFGHJKMNPQRSTVWXYZ",
            Self::Digits => b"0123456789",
        }
    }

    /// The code lengths allowed for this alphabet (never below 26 bits a code).
    pub fn lengths(self) -> RangeInclusive<usize> {
        match self {
            Self::Crockford => 8..=32,
            Self::Digits => 8..=20,
        }
    }

    /// Bits of entropy one symbol carries.
    pub fn bits_per_symbol(self) -> f64 {
        (self.symbols().len() as f64).log2()
    }

    /// The canonical symbol a typed byte stands for, or `None` if it is not in
    /// the alphabet. Upper-cases and maps Crockford look-alikes (O→0, I/L→1).
    fn canonical(self, byte: u8) -> Option<u8> {
        let byte = match byte.to_ascii_uppercase() {
            b'O' => b'0',
            b'I' | b'L' => b'1',
            other => other,
        };
        self.symbols().contains(&byte).then_some(byte)
    }
}

impl fmt::Display for Alphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Crockford => "crockford",
            Self::Digits => "digits",
        })
    }
}

impl FromStr for Alphabet {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "crockford" => Ok(Self::Crockford),
            "digits" => Ok(Self::Digits),
            other => Err(FormatError::UnknownAlphabet(other.to_owned())),
        }
    }
}

/// The shape of every code in a set: alphabet and number of symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeFormat {
    alphabet: Alphabet,
    length: usize,
}

/// A code format or count outside what the contract allows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The alphabet name is neither `crockford` nor `digits`.
    UnknownAlphabet(String),
    /// The length is outside [`Alphabet::lengths`].
    Length {
        /// The alphabet asked for.
        alphabet: Alphabet,
        /// The length asked for.
        length: usize,
    },
    /// The number of codes is outside [`CodeFormat::COUNTS`].
    Count(usize),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAlphabet(name) => {
                write!(f, "unknown alphabet {name:?} (use crockford or digits)")
            }
            Self::Length { alphabet, length } => {
                let range = alphabet.lengths();
                write!(
                    f,
                    "code length {length} is outside {}..={} for the {alphabet} alphabet",
                    range.start(),
                    range.end()
                )
            }
            Self::Count(count) => write!(
                f,
                "code count {count} is outside {}..={}",
                CodeFormat::COUNTS.start(),
                CodeFormat::COUNTS.end()
            ),
        }
    }
}

impl std::error::Error for FormatError {}

impl CodeFormat {
    /// How many codes a set may hold.
    pub const COUNTS: RangeInclusive<usize> = 1..=100;

    /// The default: 10 Crockford symbols, 50 bits.
    pub const DEFAULT: Self = Self {
        alphabet: Alphabet::Crockford,
        length: 10,
    };

    /// A format, refused if the length is outside the alphabet's range.
    pub fn new(alphabet: Alphabet, length: usize) -> Result<Self, FormatError> {
        if alphabet.lengths().contains(&length) {
            Ok(Self { alphabet, length })
        } else {
            Err(FormatError::Length { alphabet, length })
        }
    }

    /// The alphabet.
    pub fn alphabet(&self) -> Alphabet {
        self.alphabet
    }

    /// Symbols per code.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Bits of entropy per code.
    pub fn bits(&self) -> f64 {
        self.alphabet.bits_per_symbol() * self.length as f64
    }

    /// Draws `count` fresh codes from the OS CSPRNG.
    pub fn generate(&self, count: usize) -> Result<Vec<PlainCode>, rand::rngs::SysError> {
        (0..count).map(|_| self.generate_one()).collect()
    }

    fn generate_one(&self) -> Result<PlainCode, rand::rngs::SysError> {
        let symbols = self.alphabet.symbols();
        // Rejection sampling keeps every symbol equally likely.
        let limit = 256 - 256 % symbols.len();
        let mut code = Zeroizing::new(Vec::with_capacity(self.length));
        let mut buf = Zeroizing::new([0u8; 64]);
        while code.len() < self.length {
            SysRng.try_fill_bytes(&mut buf[..])?;
            for &byte in buf.iter() {
                if usize::from(byte) < limit && code.len() < self.length {
                    let index = usize::from(byte) % symbols.len();
                    code.extend(symbols.get(index));
                }
            }
        }
        Ok(PlainCode(code))
    }
}

/// One plain code, canonical symbols without separators; zeroised on drop.
pub struct PlainCode(Zeroizing<Vec<u8>>);

impl PlainCode {
    /// The canonical symbols, the input of the KDF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The code as printed for people: groups of five joined by hyphens.
    pub fn display(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.0.len() * 2));
        for (i, chunk) in self.0.chunks(GROUP_LEN).enumerate() {
            if i > 0 {
                out.push('-');
            }
            out.extend(chunk.iter().map(|&b| char::from(b)));
        }
        out
    }
}

impl fmt::Debug for PlainCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainCode([redacted])")
    }
}

/// Normalises typed input to the canonical symbols of `format`.
///
/// Spaces and hyphens are dropped, letters upper-cased and Crockford
/// look-alikes mapped. Returns `None` when the input cannot be a code of this
/// format: longer than [`MAX_INPUT_LEN`] bytes, a symbol outside the alphabet,
/// or the wrong number of symbols.
pub fn normalize(input: &[u8], format: CodeFormat) -> Option<Zeroizing<Vec<u8>>> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(MAX_INPUT_LEN));
    for &byte in input {
        if byte == b' ' || byte == b'-' {
            continue;
        }
        out.push(format.alphabet.canonical(byte)?);
    }
    (out.len() == format.length).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crockford(len: usize) -> CodeFormat {
        CodeFormat::new(Alphabet::Crockford, len).unwrap()
    }

    #[test]
    fn generated_codes_have_the_format_and_differ() {
        let format = CodeFormat::DEFAULT;
        let codes = format.generate(10).unwrap();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.as_bytes().len(), 10);
            assert!(normalize(code.as_bytes(), format).is_some());
            assert_eq!(code.display().len(), 11);
            assert_eq!(code.display().as_bytes()[5], b'-');
        }
        let distinct: std::collections::HashSet<_> = codes.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(distinct.len(), 10);
    }

    #[test]
    fn digits_codes_are_digits() {
        let format = CodeFormat::new(Alphabet::Digits, 12).unwrap();
        for code in format.generate(20).unwrap() {
            assert!(code.as_bytes().iter().all(u8::is_ascii_digit));
            let plain = std::str::from_utf8(code.as_bytes()).unwrap();
            let grouped = format!("{}-{}-{}", &plain[..5], &plain[5..10], &plain[10..]);
            assert_eq!(&*code.display(), &grouped);
        }
    }

    #[test]
    fn every_symbol_appears() {
        // 3200 symbols: each of the 32 is missing with probability ~1e-43.
        let codes = crockford(32).generate(100).unwrap();
        let seen: std::collections::HashSet<u8> = codes.iter().flat_map(|c| c.as_bytes().to_vec()).collect();
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn normalisation_accepts_what_people_type() {
        let f = crockford(10);
        let want = b"0123456789".to_vec();
        for typed in [
            "01234-56789",
            "0123456789",
            " 01234 56789 ",
            "o1234-56789",
            "O1234-56789",
        ] {
            assert_eq!(normalize(typed.as_bytes(), f).as_deref(), Some(&want), "{typed}");
        }
        let want = b"ABCDE1FGH1".to_vec();
        assert_eq!(normalize(b"abcde-ifghl", f).as_deref(), Some(&want));
    }

    #[test]
    fn normalisation_refuses_what_cannot_be_a_code() {
        let f = crockford(10);
        for typed in [
            &b""[..],
            b"ABCDE",
            b"ABCDE-FGHJK-M",
            b"ABCDE-FGHJU",
            b"ABCDE_FGHJK",
            b"ABCDE\0FGHJK",
            "ABCDE-FGHJ\u{00C9}".as_bytes(),
            "ABCDE-FGHJ\u{FF2B}".as_bytes(),
            &[0xff; 10],
        ] {
            assert_eq!(normalize(typed, f), None, "{typed:?}");
        }
        let mut long = b"ABCDE-FGHJK".to_vec();
        long.extend(std::iter::repeat_n(b' ', MAX_INPUT_LEN - long.len()));
        assert!(normalize(&long, f).is_some());
        long.push(b' ');
        assert_eq!(normalize(&long, f), None);
    }

    #[test]
    fn digits_refuse_letters() {
        let f = CodeFormat::new(Alphabet::Digits, 8).unwrap();
        assert_eq!(normalize(b"1234-567A", f), None);
        assert_eq!(normalize(b"1234-567o", f).as_deref(), Some(&b"12345670".to_vec()));
    }

    #[test]
    fn formats_below_26_bits_are_refused() {
        assert!(CodeFormat::new(Alphabet::Crockford, 7).is_err());
        assert!(CodeFormat::new(Alphabet::Crockford, 33).is_err());
        assert!(CodeFormat::new(Alphabet::Digits, 7).is_err());
        assert!(CodeFormat::new(Alphabet::Digits, 21).is_err());
        for alphabet in [Alphabet::Crockford, Alphabet::Digits] {
            let min = *alphabet.lengths().start();
            assert!(CodeFormat::new(alphabet, min).unwrap().bits() >= 26.0);
        }
        assert_eq!("crockford".parse::<Alphabet>(), Ok(Alphabet::Crockford));
        assert!("base64".parse::<Alphabet>().is_err());
    }
}
