//! The journal's native protocol (systemd's `sd_journal_send` without
//! libsystemd): one datagram to /run/systemd/journal/socket of `KEY=value`
//! lines, a value holding a newline written as `KEY\n`, its length as a
//! little-endian u64, the bytes and `\n`. Best effort by design: a journal
//! that is absent, full or slow never delays or fails a login, so the
//! socket is non-blocking and every error is dropped.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use super::{Record, Severity};

/// Where journald listens for native messages.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// The field naming the event (the others are the fields' names upper-cased).
pub const EVENT_FIELD: &str = "PAM_BACKUP_CODES_EVENT";

/// The authpriv facility, as SYSLOG_FACILITY.
const AUTHPRIV: u32 = 10;

/// The datagram for `record`, logged as `identifier` with `message` as the
/// MESSAGE (the syslog line).
pub fn datagram(record: &Record, identifier: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let info = record.event.info();
    put(&mut out, "MESSAGE", message);
    put(&mut out, "MESSAGE_ID", info.message_id);
    put(&mut out, "PRIORITY", &record.severity.level().to_string());
    put(&mut out, "SYSLOG_FACILITY", &AUTHPRIV.to_string());
    put(&mut out, "SYSLOG_IDENTIFIER", identifier);
    put(&mut out, EVENT_FIELD, info.name);
    for (field, value) in record.fields() {
        put(&mut out, &field.name().to_ascii_uppercase(), value);
    }
    out
}

/// Appends one field, in the binary-safe form if the value has a newline.
fn put(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(key.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// Sends `record` to the journal if journald runs; never blocks, never fails.
pub fn send(record: &Record, identifier: &str, message: &str) {
    send_to(Path::new(SOCKET), record, identifier, message);
}

/// [`send`] to another socket.
pub fn send_to(socket: &Path, record: &Record, identifier: &str, message: &str) {
    if !socket.exists() {
        return;
    }
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    // A full queue (EAGAIN) or an oversized entry: dropped; the syslog line
    // carries the event too.
    let _ = sock.send_to(&datagram(record, identifier, message), socket);
}

/// Parses a datagram back into its fields (binary-safe form included); for
/// tests and readers of a private socket.
pub fn parse(mut data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut fields = Vec::new();
    while !data.is_empty() {
        let end = data.iter().position(|&b| b == b'=' || b == b'\n')?;
        let key = std::str::from_utf8(&data[..end]).ok()?.to_owned();
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let nl = rest.iter().position(|&b| b == b'\n')?;
            fields.push((key, rest[..nl].to_vec()));
            data = &rest[nl + 1..];
        } else {
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
            let value = rest.get(8..8 + len)?;
            if rest.get(8 + len) != Some(&b'\n') {
                return None;
            }
            fields.push((key, value.to_vec()));
            data = &rest[9 + len..];
        }
    }
    Some(fields)
}

/// The severity a PRIORITY value names.
pub fn severity(priority: &[u8]) -> Option<Severity> {
    let level: i32 = std::str::from_utf8(priority).ok()?.parse().ok()?;
    super::Severity::NAMED
        .iter()
        .map(|(_, s)| *s)
        .chain([Severity::Debug])
        .find(|s| s.level() == level)
}

#[cfg(test)]
mod tests {
    use super::super::{Event, Field};
    use super::*;

    #[test]
    fn fields_are_journal_fields_and_newlines_binary_safe() {
        let record = Record::new(Event::CodeReused)
            .with(Field::User, "alice")
            .with(Field::Reason, "two\nlines");
        let data = datagram(&record, "pam_backup_codes", &record.line());
        let fields = parse(&data).unwrap();
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        };
        assert_eq!(get("MESSAGE_ID").unwrap(), Event::CodeReused.info().message_id);
        assert_eq!(get(EVENT_FIELD).unwrap(), "code-reused");
        assert_eq!(get("USER").unwrap(), "alice");
        assert_eq!(get("REASON").unwrap(), "two\nlines");
        assert_eq!(get("PRIORITY").unwrap(), "4");
        assert_eq!(get("SYSLOG_FACILITY").unwrap(), "10");
        assert_eq!(get("MESSAGE").unwrap(), record.line());
        // The binary-safe form: KEY\n, length, bytes, \n.
        let mut want = b"REASON\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert!(data.windows(want.len()).any(|w| w == want));
    }

    #[test]
    fn no_journal_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        send_to(
            &dir.path().join("socket"),
            &Record::new(Event::CodeAccepted),
            "x",
            "x",
        );
        // A socket nobody reads, filled up: sends return at once.
        let path = dir.path().join("full");
        let _server = UnixDatagram::bind(&path).unwrap();
        for _ in 0..1000 {
            send_to(&path, &Record::new(Event::CodeAccepted), "x", "x");
        }
    }
}
