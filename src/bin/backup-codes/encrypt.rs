//! Sheets encrypted to their user: `generate` and `add` with
//! `--encrypt-to-ssh-key`, `--recipient` or `--recipients-file` write each
//! user's sheet as an age file (the format of age and rage), so that the
//! administrator who provisions never sees a plain code.
//!
//! The plain sheet is rendered into a zeroised buffer as always; only the
//! ciphertext leaves the process. (The age crate's stream writer keeps its
//! own copy of the last chunk of plain text, which it does not zeroise
//! before freeing it; the process is not dumpable and ends soon after.)
//!
//! Recipients: the user's own ed25519 and RSA keys from their
//! `~/.ssh/authorized_keys` ([`authorized_keys`], read through a trusted
//! path), and any age (`age1…`) or SSH public keys given on the command line
//! or in a file, the same for every user. Other key types (ECDSA, security
//! keys, certificates' CAs) cannot be age recipients and are skipped with a
//! note.

mod authorized_keys;

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::args::EncryptArgs;
pub(crate) use authorized_keys::KeysError;
use authorized_keys::parse_line;

/// One recipient, parsed once, shared by every worker thread.
#[derive(Clone)]
enum Key {
    /// An age X25519 recipient (`age1…`).
    Age(age::x25519::Recipient),
    /// An SSH ed25519 or RSA public key.
    Ssh(age::ssh::Recipient),
}

impl Key {
    fn as_recipient(&self) -> &dyn age::Recipient {
        match self {
            Self::Age(key) => key,
            Self::Ssh(key) => key,
        }
    }
}

/// A recipient that cannot be used: why, in words.
fn parse_key(text: &str) -> Result<Key, String> {
    let text = text.trim();
    if text.starts_with("age1") {
        return age::x25519::Recipient::from_str(text)
            .map(Key::Age)
            .map_err(|e| format!("not an age recipient ({e}); age plugin recipients are not supported"));
    }
    let line = parse_line(text)
        .ok_or_else(|| "neither an age recipient (age1…) nor an SSH public key".to_owned())?;
    ssh_key(line.key_type, line.key)
}

/// An SSH public key as an age recipient: ed25519 and RSA (2048 bits or more).
fn ssh_key(key_type: &str, key: &str) -> Result<Key, String> {
    use age::ssh::ParseRecipientKeyError as E;
    if !matches!(key_type, "ssh-ed25519" | "ssh-rsa") {
        return Err(format!(
            "{key_type} keys cannot be age recipients (only ssh-ed25519 and ssh-rsa)"
        ));
    }
    age::ssh::Recipient::from_str(&format!("{key_type} {key}"))
        .map(Key::Ssh)
        .map_err(|e| match e {
            E::RsaModulusTooSmall => "an RSA key shorter than 2048 bits".to_owned(),
            E::RsaModulusTooLarge => "an RSA key longer than age supports".to_owned(),
            E::Unsupported(t) => format!("{t} keys cannot be age recipients"),
            _ => format!("not a valid {key_type} key"),
        })
}

/// What the command line asks to encrypt to.
pub(crate) struct Encryption {
    /// Each user's own keys from their authorized_keys.
    user_keys: bool,
    /// Recipients for every sheet (`--recipient`, `--recipients-file`).
    fixed: Vec<Key>,
}

/// A recipient given on the command line or in a file cannot be used.
#[derive(Debug)]
pub(crate) enum RecipientError {
    /// `--recipient TEXT`.
    Argument { text: String, reason: String },
    /// A line of `--recipients-file`.
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// `--recipients-file` could not be read.
    File { path: PathBuf, source: io::Error },
}

impl fmt::Display for RecipientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Argument { text, reason } => write!(f, "--recipient {text:?}: {reason}"),
            Self::Line { path, line, reason } => write!(f, "{}:{line}: {reason}", path.display()),
            Self::File { path, source } => write!(f, "{}: cannot read recipients: {source}", path.display()),
        }
    }
}

impl std::error::Error for RecipientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File { source, .. } => Some(source),
            Self::Argument { .. } | Self::Line { .. } => None,
        }
    }
}

/// One user's sheet could not be encrypted.
#[derive(Debug)]
pub(crate) enum EncryptError {
    /// Their authorized_keys could not be used.
    Keys(KeysError),
    /// Their authorized_keys holds no key a sheet can be encrypted to.
    NoKeys { path: PathBuf },
    /// age failed.
    Age(String),
}

impl fmt::Display for EncryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keys(e) => write!(f, "{e}"),
            Self::NoKeys { path } => write!(
                f,
                "{}: no ssh-ed25519 or ssh-rsa key to encrypt the sheet to",
                path.display()
            ),
            Self::Age(e) => write!(f, "cannot encrypt the sheet: {e}"),
        }
    }
}

impl std::error::Error for EncryptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Keys(e) => Some(e),
            Self::NoKeys { .. } | Self::Age(_) => None,
        }
    }
}

/// A sheet encrypted, and what was skipped on the way (one line each).
pub(crate) struct Encrypted {
    /// The age file.
    pub(crate) bytes: Vec<u8>,
    /// Keys of the user's authorized_keys that were not used, and why.
    pub(crate) notes: Vec<String>,
}

impl Encryption {
    /// What `args` ask for; `None` when no sheet is to be encrypted.
    pub(crate) fn from_args(args: &EncryptArgs) -> Result<Option<Self>, RecipientError> {
        let mut fixed = Vec::new();
        for text in &args.recipient {
            fixed.push(parse_key(text).map_err(|reason| RecipientError::Argument {
                text: text.clone(),
                reason,
            })?);
        }
        for path in &args.recipients_file {
            fixed.extend(read_recipients_file(path)?);
        }
        if !args.encrypt_to_ssh_key && fixed.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            user_keys: args.encrypt_to_ssh_key,
            fixed,
        }))
    }

    /// `plain` encrypted to `user`'s recipients.
    pub(crate) fn encrypt(&self, user: &str, plain: &[u8]) -> Result<Encrypted, EncryptError> {
        let recipients = self.recipients(user)?;
        let bytes = recipients.encrypt(plain)?;
        Ok(Encrypted {
            bytes,
            notes: recipients.notes,
        })
    }

    /// Whom `user`'s sheet is encrypted to: the fixed recipients, and with
    /// `--encrypt-to-ssh-key` the user's own usable keys (at least one).
    pub(crate) fn recipients(&self, user: &str) -> Result<Recipients, EncryptError> {
        let mut keys = self.fixed.clone();
        let mut notes = Vec::new();
        if self.user_keys {
            let (path, text) = authorized_keys::read(user).map_err(EncryptError::Keys)?;
            let own = user_keys(&path, &text, &mut notes);
            if own.is_empty() {
                return Err(EncryptError::NoKeys { path });
            }
            keys.extend(own);
        }
        Ok(Recipients { keys, notes })
    }
}

/// One user's recipients, looked up.
pub(crate) struct Recipients {
    keys: Vec<Key>,
    /// Keys of the user's authorized_keys that were not used, and why.
    pub(crate) notes: Vec<String>,
}

impl Recipients {
    /// `plain` as an age file (binary, as `age` writes without `-a`).
    pub(crate) fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, EncryptError> {
        let encryptor = age::Encryptor::with_recipients(self.keys.iter().map(Key::as_recipient))
            .map_err(|e| EncryptError::Age(e.to_string()))?;
        // The ciphertext is the plain text's size plus the header and tags.
        let mut bytes = Vec::with_capacity(plain.len() + 1024 + 512 * self.keys.len());
        let mut writer = encryptor
            .wrap_output(&mut bytes)
            .map_err(|e| EncryptError::Age(e.to_string()))?;
        writer
            .write_all(plain)
            .and_then(|()| writer.finish().map(drop))
            .map_err(|e| EncryptError::Age(e.to_string()))?;
        Ok(bytes)
    }
}

/// The usable keys of an authorized_keys file; a note for each line with a
/// key that is not used.
fn user_keys(path: &Path, text: &str, notes: &mut Vec<String>) -> Vec<Key> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let Some(line) = parse_line(line) else { continue };
        let place = format!("{}:{}", path.display(), number + 1);
        // A CA key vouches for other keys: it is not one the user holds.
        if line
            .options
            .is_some_and(|o| o.split(',').any(|o| o.eq_ignore_ascii_case("cert-authority")))
        {
            notes.push(format!("{place}: a cert-authority key, skipped"));
            continue;
        }
        match ssh_key(line.key_type, line.key) {
            Ok(key) => keys.push(key),
            Err(reason) => notes.push(format!("{place}: {reason}, skipped")),
        }
    }
    keys
}

/// Recipients from a file, one per line, as age's `-R` reads them: blank
/// lines and `#` comments skipped, every other line a recipient.
fn read_recipients_file(path: &Path) -> Result<Vec<Key>, RecipientError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecipientError::File {
        path: path.to_owned(),
        source,
    })?;
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_key(line).map_err(|reason| RecipientError::Line {
            path: path.to_owned(),
            line: number + 1,
            reason,
        })?);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBftl8NMNp4le+0QpwKd+4/wtkmlNAfE8YoNkchHqVnB alice@laptop";

    #[test]
    fn recipients_are_age_or_ssh_keys() {
        assert!(matches!(parse_key(ED25519), Ok(Key::Ssh(_))));
        assert!(matches!(
            parse_key("age1fwt8jfw68evyya502ex52dm0xu48eydh29yktjlym3dskfzvdqvsk62jju"),
            Ok(Key::Age(_))
        ));
        for (bad, why) in [
            ("age1nope", "not an age recipient"),
            ("ecdsa-sha2-nistp256 AAAAE2VjZHNh", "cannot be age recipients"),
            ("ssh-ed25519 AAAAnotbase64!", "not a valid ssh-ed25519 key"),
            ("hello", "neither an age recipient"),
        ] {
            let e = parse_key(bad).err().unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn authorized_keys_lines_are_used_or_noted() {
        let text = format!(
            "# mine\n{ED25519}\n\
             restrict,command=\"uptime\" {ED25519}\n\
             cert-authority {ED25519}\n\
             ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= x\n\
             garbage\n"
        );
        let mut notes = Vec::new();
        let keys = user_keys(Path::new("/home/a/.ssh/authorized_keys"), &text, &mut notes);
        assert_eq!(keys.len(), 2, "{notes:?}");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains(":4: a cert-authority key"), "{notes:?}");
        assert!(
            notes[1].contains(":5: ecdsa-sha2-nistp256 keys cannot"),
            "{notes:?}"
        );
    }

    #[test]
    fn a_sheet_is_encrypted_to_fixed_recipients() {
        let enc = Encryption {
            user_keys: false,
            fixed: vec![parse_key(ED25519).unwrap()],
        };
        let sheet = b"  [ ]   1.  ABCDE-FGHJK\n";
        let out = enc.encrypt("nobody-at-all", sheet).unwrap();
        assert!(out.bytes.starts_with(b"age-encryption.org/v1\n-> ssh-ed25519 "));
        assert!(!out.bytes.windows(11).any(|w| w == b"ABCDE-FGHJK"));
    }
}
