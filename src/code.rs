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

/// Crockford's check symbols: the 32 symbols for the values 0..32, then
/// `* ~ $ = U` for 32..37 (Crockford's base32, "check symbol").
const CHECK_SYMBOLS: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

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

/// The shape of every code in a set: alphabet, number of symbols, and
/// whether a Crockford check symbol follows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeFormat {
    alphabet: Alphabet,
    length: usize,
    check_symbol: bool,
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

    /// The default: 10 Crockford symbols, 50 bits, and a check symbol.
    pub const DEFAULT: Self = Self {
        alphabet: Alphabet::Crockford,
        length: 10,
        check_symbol: true,
    };

    /// A format without a check symbol (see [`with_check_symbol`](Self::with_check_symbol)),
    /// refused if the length is outside the alphabet's range.
    pub fn new(alphabet: Alphabet, length: usize) -> Result<Self, FormatError> {
        if alphabet.lengths().contains(&length) {
            Ok(Self {
                alphabet,
                length,
                check_symbol: false,
            })
        } else {
            Err(FormatError::Length { alphabet, length })
        }
    }

    /// This format with or without a Crockford check symbol after the code.
    /// Only the Crockford alphabet has one: for digits this is the format
    /// unchanged (the check symbol does not apply).
    pub fn with_check_symbol(self, on: bool) -> Self {
        Self {
            check_symbol: on && self.alphabet == Alphabet::Crockford,
            ..self
        }
    }

    /// Whether each code ends with a check symbol.
    pub fn check_symbol(&self) -> bool {
        self.check_symbol
    }

    /// The alphabet.
    pub fn alphabet(&self) -> Alphabet {
        self.alphabet
    }

    /// Symbols per code.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Bits of entropy per code. The check symbol adds none: it is a
    /// function of the code's other symbols.
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
        if self.check_symbol {
            let check = check_symbol(&code);
            code.push(check);
        }
        Ok(PlainCode {
            symbols: code,
            checked: self.check_symbol,
        })
    }
}

/// The Crockford check symbol of canonical Crockford `symbols`: their value
/// as a base-32 number, modulo 37.
pub fn check_symbol(symbols: &[u8]) -> u8 {
    let value = symbols.iter().fold(0usize, |acc, &symbol| {
        let digit = Alphabet::Crockford
            .symbols()
            .iter()
            .position(|&s| s == symbol)
            .unwrap_or(0);
        (acc * 32 + digit) % 37
    });
    CHECK_SYMBOLS.get(value).copied().unwrap_or(b'0')
}

/// One plain code, canonical symbols without separators (the check symbol
/// last, if the format has one); zeroised on drop.
pub struct PlainCode {
    symbols: Zeroizing<Vec<u8>>,
    checked: bool,
}

impl PlainCode {
    /// The canonical symbols as typed, the check symbol included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.symbols
    }

    /// The input of the KDF: the code without its check symbol.
    pub fn payload(&self) -> &[u8] {
        let end = self.symbols.len() - usize::from(self.checked);
        self.symbols.get(..end).unwrap_or(&self.symbols)
    }

    /// The code as printed for people: groups of five joined by hyphens,
    /// and the check symbol, if any, as a group of its own (`XXXXX-XXXXX-C`).
    pub fn display(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.symbols.len() * 2));
        for (i, chunk) in self.payload().chunks(GROUP_LEN).enumerate() {
            if i > 0 {
                out.push('-');
            }
            out.extend(chunk.iter().map(|&b| char::from(b)));
        }
        if self.checked
            && let Some(&check) = self.symbols.last()
        {
            out.push('-');
            out.push(char::from(check));
        }
        out
    }
}

impl fmt::Debug for PlainCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainCode([redacted])")
    }
}

/// What typed input is, for a format.
pub enum Typed {
    /// A code of the format: its canonical symbols without the check symbol
    /// (the input of the KDF).
    Code(Zeroizing<Vec<u8>>),
    /// Shaped like a code of the format, but its check symbol does not match
    /// the symbols before it: a typo, told apart before any hashing.
    Typo,
    /// Not a code of this format (length, symbols, or too long).
    NotACode,
}

/// Reads typed input as a code of `format`.
///
/// Spaces and hyphens are dropped, letters upper-cased and Crockford
/// look-alikes mapped. With a check symbol, the last symbol may be any of
/// Crockford's 37 check symbols and must match the others.
pub fn read(input: &[u8], format: CodeFormat) -> Typed {
    if input.len() > MAX_INPUT_LEN {
        return Typed::NotACode;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(MAX_INPUT_LEN));
    for &byte in input {
        if byte == b' ' || byte == b'-' {
            continue;
        }
        out.push(byte);
    }
    let check = if format.check_symbol {
        match out.pop() {
            Some(last) => Some(canonical_check(last)),
            None => return Typed::NotACode,
        }
    } else {
        None
    };
    for byte in out.iter_mut() {
        match format.alphabet.canonical(*byte) {
            Some(symbol) => *byte = symbol,
            None => return Typed::NotACode,
        }
    }
    if out.len() != format.length {
        return Typed::NotACode;
    }
    match check {
        None => Typed::Code(out),
        Some(None) => Typed::NotACode,
        Some(Some(check)) if check == check_symbol(&out) => Typed::Code(out),
        Some(Some(_)) => Typed::Typo,
    }
}

/// The canonical check symbol a typed byte stands for, look-alikes mapped.
fn canonical_check(byte: u8) -> Option<u8> {
    let byte = match byte.to_ascii_uppercase() {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    CHECK_SYMBOLS.contains(&byte).then_some(byte)
}

/// Normalises typed input to the canonical symbols of `format`, without
/// the check symbol: `None` unless [`read`] finds a code (a typo is `None`).
pub fn normalize(input: &[u8], format: CodeFormat) -> Option<Zeroizing<Vec<u8>>> {
    match read(input, format) {
        Typed::Code(code) => Some(code),
        Typed::Typo | Typed::NotACode => None,
    }
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
            assert_eq!(code.as_bytes().len(), 11);
            assert_eq!(code.payload().len(), 10);
            assert_eq!(
                normalize(code.as_bytes(), format).as_deref().map(Vec::as_slice),
                Some(code.payload())
            );
            assert_eq!(code.display().len(), 13);
            assert_eq!(code.display().as_bytes()[5], b'-');
            assert_eq!(code.display().as_bytes()[11], b'-');
        }
        let distinct: std::collections::HashSet<_> = codes.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(distinct.len(), 10);
    }

    #[test]
    fn the_check_symbol_is_crockfords_mod_37() {
        // Values 0, 31, 32, 36, 37 and 37 * 32 + 36 (= 1220).
        for (symbols, check) in [
            (&b"0"[..], b'0'),
            (b"Z", b'Z'),
            (b"10", b'*'),
            (b"11", b'~'),
            (b"12", b'$'),
            (b"13", b'='),
            (b"14", b'U'),
            (b"15", b'0'),
            (b"164", b'U'),
        ] {
            assert_eq!(check_symbol(symbols), check, "{symbols:?}");
        }
    }

    #[test]
    fn a_wrong_check_symbol_is_a_typo_and_a_right_one_a_code() {
        let format = CodeFormat::DEFAULT;
        assert!(format.check_symbol());
        let check = char::from(check_symbol(b"0123456789"));
        let right = format!("01234-56789-{check}");
        assert_eq!(
            normalize(right.as_bytes(), format).as_deref(),
            Some(&b"0123456789".to_vec())
        );
        let lower = right.to_ascii_lowercase().replace('0', "o");
        assert!(matches!(read(lower.as_bytes(), format), Typed::Code(_)));
        // One symbol changed, anywhere, is caught: mod 37 is prime to 32.
        for i in [0, 3, 6, 10, 12] {
            let mut typo = right.clone().into_bytes();
            typo[i] = if typo[i] == b'7' { b'8' } else { b'7' };
            assert!(
                matches!(read(&typo, format), Typed::Typo),
                "{}",
                String::from_utf8_lossy(&typo)
            );
        }
        // Without the check symbol, or a check symbol in the code: not a code.
        assert!(matches!(read(b"01234-56789", format), Typed::NotACode));
        assert!(matches!(read(b"0123*-56789-0", format), Typed::NotACode));
        assert!(matches!(read(b"01234-56789-#", format), Typed::NotACode));
        // The old format reads the old codes and no check symbol.
        let old = CodeFormat::new(Alphabet::Crockford, 10).unwrap();
        assert!(!old.check_symbol());
        assert!(matches!(read(b"01234-56789", old), Typed::Code(_)));
        assert!(matches!(read(right.as_bytes(), old), Typed::NotACode));
        // Digits have none.
        let digits = CodeFormat::new(Alphabet::Digits, 10)
            .unwrap()
            .with_check_symbol(true);
        assert!(!digits.check_symbol());
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
