//! A small PAM application for tests, the demo and the benchmark: it runs a
//! real libpam transaction from a private configuration directory
//! (`pam_start_confdir`), answers prompts from its command line, and prints
//! what the stack said and returned.
//!
//! ```text
//! pam-driver --confdir DIR --service NAME --user NAME [--rhost HOST]
//!            [--answer TEXT | --answer-hex HEX | --answer-file PATH]... [--conv-fail | --no-reply]
//!            [--silent] [--setcred] [--real-delay] [--transactions N]
//!            [--dev-log SOCKET]
//! ```
//!
//! Output, one line each, printed after `pam_end` so that nothing the module
//! might write to stdout or stderr is mixed in:
//! `prompt: TEXT` (echo off), `prompt-echo-on: TEXT`, `info: TEXT`,
//! `error: TEXT`, `delay: USEC` (the fail delay libpam asked for; not slept
//! unless `--real-delay`), `stray-output: N bytes` if the stack wrote to
//! stdout/stderr, `fds-leaked: N` if descriptors were left open, `maxrss-kib: N`,
//! and `result: PAM_NAME` per transaction. Exit status 0 if every transaction
//! succeeded, 1 if one did not, 2 on a usage or setup error.
//!
//! `--dev-log DIR/log` runs the transaction in a private mount namespace whose
//! /dev is DIR, holding the given datagram socket `log`, so a test can read the module's
//! syslog lines without touching the system's /dev.
#![allow(unsafe_code, missing_docs)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsString, c_char, c_int, c_uint, c_void};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::libc;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    unsafe extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

type DelayFn = unsafe extern "C" fn(c_int, c_uint, *mut c_void);

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

const PAM_SUCCESS: c_int = 0;
const PAM_CONV_ERR: c_int = 19;
const PAM_RHOST: c_int = 4;
const PAM_FAIL_DELAY: c_int = 10;
const PAM_SILENT: c_int = 0x8000;
const PAM_ESTABLISH_CRED: c_int = 0x2;

const RESULT_NAMES: [&str; 32] = [
    "PAM_SUCCESS",
    "PAM_OPEN_ERR",
    "PAM_SYMBOL_ERR",
    "PAM_SERVICE_ERR",
    "PAM_SYSTEM_ERR",
    "PAM_BUF_ERR",
    "PAM_PERM_DENIED",
    "PAM_AUTH_ERR",
    "PAM_CRED_INSUFFICIENT",
    "PAM_AUTHINFO_UNAVAIL",
    "PAM_USER_UNKNOWN",
    "PAM_MAXTRIES",
    "PAM_NEW_AUTHTOK_REQD",
    "PAM_ACCT_EXPIRED",
    "PAM_SESSION_ERR",
    "PAM_CRED_UNAVAIL",
    "PAM_CRED_EXPIRED",
    "PAM_CRED_ERR",
    "PAM_NO_MODULE_DATA",
    "PAM_CONV_ERR",
    "PAM_AUTHTOK_ERR",
    "PAM_AUTHTOK_RECOVERY_ERR",
    "PAM_AUTHTOK_LOCK_BUSY",
    "PAM_AUTHTOK_DISABLE_AGING",
    "PAM_TRY_AGAIN",
    "PAM_IGNORE",
    "PAM_ABORT",
    "PAM_AUTHTOK_EXPIRED",
    "PAM_MODULE_UNKNOWN",
    "PAM_BAD_ITEM",
    "PAM_CONV_AGAIN",
    "PAM_INCOMPLETE",
];

fn result_name(code: c_int) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| RESULT_NAMES.get(i))
        .map_or_else(|| format!("PAM_UNKNOWN({code})"), |s| (*s).to_owned())
}

#[derive(Clone, Copy, PartialEq)]
enum ConvMode {
    Answer,
    Fail,
    NoReply,
}

/// What the conversation answers and what it has seen.
struct Conversation {
    mode: ConvMode,
    answers: Vec<Vec<u8>>,
    next: usize,
    lines: Vec<String>,
}

thread_local! {
    static DELAYS: RefCell<Vec<c_uint>> = const { RefCell::new(Vec::new()) };
}

fn show(text: &[u8]) -> String {
    text.escape_ascii().to_string()
}

unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the &mut Conversation given to pam_start_confdir,
    // alive for the whole transaction and used from this thread only.
    let conv = unsafe { &mut *appdata.cast::<Conversation>() };
    let Ok(count) = usize::try_from(num_msg) else {
        return PAM_CONV_ERR;
    };
    if conv.mode == ConvMode::Fail {
        conv.lines.push("conversation: failing".to_owned());
        return PAM_CONV_ERR;
    }
    // SAFETY: libpam frees the array and each resp with free(); calloc
    // zeroes it, so unanswered entries are NULL.
    let replies = unsafe { libc::calloc(count, size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return PAM_CONV_ERR;
    }
    for i in 0..count {
        // SAFETY: Linux-PAM passes an array of `num_msg` message pointers.
        let m = unsafe { &**msg.add(i) };
        // SAFETY: each message text is a NUL-terminated string.
        let text = show(unsafe { CStr::from_ptr(m.msg) }.to_bytes());
        let (label, wants_answer) = match m.msg_style {
            1 => ("prompt", true),
            2 => ("prompt-echo-on", true),
            3 => ("error", false),
            4 => ("info", false),
            _ => ("message", false),
        };
        conv.lines.push(format!("{label}: {text}"));
        if !wants_answer {
            continue;
        }
        let answer = conv.answers.get(conv.next).cloned().unwrap_or_default();
        conv.next += 1;
        let mut bytes = answer;
        bytes.push(0);
        // SAFETY: malloc'd copy, freed by the module with free().
        let copy = unsafe { libc::malloc(bytes.len()) }.cast::<u8>();
        if copy.is_null() {
            return PAM_CONV_ERR;
        }
        // SAFETY: `copy` has room for `bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len()) };
        // SAFETY: `i < count`, within the calloc'd array.
        unsafe { (*replies.add(i)).resp = copy.cast() };
    }
    if conv.mode == ConvMode::NoReply {
        for i in 0..count {
            // SAFETY: within the array; the strings were malloc'd above.
            unsafe { libc::free((*replies.add(i)).resp.cast()) };
        }
        // SAFETY: the array was calloc'd above.
        unsafe { libc::free(replies.cast()) };
        conv.lines.push("conversation: no reply".to_owned());
        // SAFETY: `resp` is the out-pointer libpam gave us.
        unsafe { *resp = std::ptr::null_mut() };
        return PAM_SUCCESS;
    }
    // SAFETY: `resp` is the out-pointer libpam gave us.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

unsafe extern "C" fn record_delay(_status: c_int, usec: c_uint, _appdata: *mut c_void) {
    DELAYS.with(|d| d.borrow_mut().push(usec));
}

struct Args {
    confdir: PathBuf,
    service: OsString,
    user: OsString,
    rhost: Option<OsString>,
    answers: Vec<Vec<u8>>,
    mode: ConvMode,
    silent: bool,
    setcred: bool,
    real_delay: bool,
    transactions: u32,
    dev_log: Option<PathBuf>,
}

fn parse_hex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        confdir: PathBuf::new(),
        service: OsString::new(),
        user: OsString::new(),
        rhost: None,
        answers: Vec::new(),
        mode: ConvMode::Answer,
        silent: false,
        setcred: false,
        real_delay: false,
        transactions: 1,
        dev_log: None,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{} needs a value", flag.to_string_lossy()))
        };
        match flag.as_bytes() {
            b"--confdir" => args.confdir = value()?.into(),
            b"--service" => args.service = value()?,
            b"--user" => args.user = value()?,
            b"--rhost" => args.rhost = Some(value()?),
            b"--answer" => args.answers.push(value()?.into_vec()),
            b"--answer-hex" => {
                let v = value()?;
                args.answers
                    .push(parse_hex(v.as_bytes()).ok_or("--answer-hex: not hex")?);
            }
            b"--answer-file" => {
                let path = value()?;
                args.answers
                    .push(std::fs::read(&path).map_err(|e| format!("--answer-file: {e}"))?);
            }
            b"--transactions" => {
                args.transactions = value()?
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--transactions: not a number")?;
            }
            b"--dev-log" => args.dev_log = Some(value()?.into()),
            b"--conv-fail" => args.mode = ConvMode::Fail,
            b"--no-reply" => args.mode = ConvMode::NoReply,
            b"--silent" => args.silent = true,
            b"--setcred" => args.setcred = true,
            b"--real-delay" => args.real_delay = true,
            other => return Err(format!("unknown argument {}", show(other))),
        }
    }
    if args.confdir.as_os_str().is_empty() || args.service.is_empty() {
        return Err("--confdir and --service are required".to_owned());
    }
    Ok(args)
}

fn c_string(s: &[u8], what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

/// This process's peak resident set since it was exec'd, in KiB: VmHWM of
/// /proc/self/status. Not getrusage's ru_maxrss, which keeps the parent's
/// peak when the driver is started with vfork or posix_spawn (as Rust's
/// `Command` does), so a big test or bench process would be reported instead.
fn max_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(-1)
}

/// Gives this process a private /dev: the directory holding `socket`, which
/// must be named `log`, with the usual character devices bound into it.
fn private_dev_log(socket: &Path) -> Result<(), String> {
    let fail = |what: &str| format!("--dev-log: {what}: {}", std::io::Error::last_os_error());
    if socket.file_name() != Some(std::ffi::OsStr::new("log")) {
        return Err("--dev-log: the socket must be named `log`".to_owned());
    }
    let dir = socket.parent().unwrap_or(Path::new("."));
    let mount = |from: &Path, to: &Path, flags: libc::c_ulong| -> Result<(), String> {
        let from = c_string(from.as_os_str().as_bytes(), "path")?;
        let to = c_string(to.as_os_str().as_bytes(), "path")?;
        // SAFETY: valid NUL-terminated paths; bind mounts take no data.
        let rc = unsafe {
            libc::mount(
                from.as_ptr(),
                to.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            )
        };
        if rc == 0 { Ok(()) } else { Err(fail("mount")) }
    };
    // SAFETY: plain syscall; affects only this process from here on.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(fail("unshare"));
    }
    // SAFETY: makes every mount private to the new namespace.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(fail("make / private"));
    }
    for name in ["null", "zero", "random", "urandom", "full"] {
        let target = dir.join(name);
        std::fs::File::create(&target).map_err(|e| format!("--dev-log: {e}"))?;
        mount(&Path::new("/dev").join(name), &target, libc::MS_BIND)?;
    }
    mount(dir, Path::new("/dev"), libc::MS_BIND | libc::MS_REC)
}

fn run() -> Result<bool, String> {
    let args = parse_args()?;
    if let Some(socket) = &args.dev_log {
        private_dev_log(socket)?;
    }
    let service = c_string(args.service.as_bytes(), "service")?;
    let user = c_string(args.user.as_bytes(), "user")?;
    let confdir = c_string(args.confdir.as_os_str().as_bytes(), "confdir")?;
    let rhost = args
        .rhost
        .as_ref()
        .map(|h| c_string(h.as_bytes(), "rhost"))
        .transpose()?;

    // Anything the stack writes to stdout or stderr lands here, not in the report.
    let mut stray = tempfile::tempfile().map_err(|e| format!("temporary file: {e}"))?;
    // SAFETY: dup of the standard descriptors, restored below.
    let (saved_out, saved_err) = unsafe { (libc::dup(1), libc::dup(2)) };
    std::io::stdout().flush().ok();
    // A host's syslog connection is libc's, opened once and kept: open it
    // now so that it is not counted as a descriptor the stack leaked.
    // SAFETY: a NULL ident keeps the program name; the flags are valid.
    unsafe { libc::openlog(std::ptr::null(), libc::LOG_NDELAY, libc::LOG_AUTHPRIV) };
    let fds_before = open_fds();
    // SAFETY: redirect the standard descriptors to the temporary file.
    unsafe {
        libc::dup2(stray.as_raw_fd(), 1);
        libc::dup2(stray.as_raw_fd(), 2);
    }

    let mut report = Vec::new();
    let mut all_ok = true;
    for _ in 0..args.transactions {
        let mut conversation = Conversation {
            mode: args.mode,
            answers: args.answers.clone(),
            next: 0,
            lines: Vec::new(),
        };
        let conv = PamConv {
            conv: Some(converse),
            appdata_ptr: (&raw mut conversation).cast(),
        };
        let mut pamh: *mut c_void = std::ptr::null_mut();
        let user_ptr = if args.user.is_empty() {
            std::ptr::null()
        } else {
            user.as_ptr()
        };
        // SAFETY: all pointers are valid for the call; `conv` and
        // `conversation` outlive the transaction (pam_end below).
        let rc = unsafe { pam_start_confdir(service.as_ptr(), user_ptr, &conv, confdir.as_ptr(), &mut pamh) };
        if rc != PAM_SUCCESS {
            report.push(format!("result: pam_start_confdir {}", result_name(rc)));
            all_ok = false;
            continue;
        }
        if let Some(host) = &rhost {
            // SAFETY: libpam copies the string.
            unsafe { pam_set_item(pamh, PAM_RHOST, host.as_ptr().cast()) };
        }
        if !args.real_delay {
            let delay: DelayFn = record_delay;
            // SAFETY: PAM_FAIL_DELAY takes a function pointer as the item.
            unsafe { pam_set_item(pamh, PAM_FAIL_DELAY, delay as *const c_void) };
        }
        let flags = if args.silent { PAM_SILENT } else { 0 };
        // SAFETY: live handle from pam_start_confdir.
        let mut result = unsafe { pam_authenticate(pamh, flags) };
        report.append(&mut conversation.lines);
        for usec in DELAYS.with(|d| std::mem::take(&mut *d.borrow_mut())) {
            report.push(format!("delay: {usec}"));
        }
        report.push(format!("result: {}", result_name(result)));
        if args.setcred && result == PAM_SUCCESS {
            // SAFETY: live handle.
            result = unsafe { pam_setcred(pamh, PAM_ESTABLISH_CRED | flags) };
            report.push(format!("setcred: {}", result_name(result)));
        }
        all_ok &= result == PAM_SUCCESS;
        // SAFETY: ends the transaction; the handle is not used again.
        unsafe { pam_end(pamh, result) };
    }

    // SAFETY: restore the standard descriptors saved above.
    unsafe {
        libc::dup2(saved_out, 1);
        libc::dup2(saved_err, 2);
        libc::close(saved_out);
        libc::close(saved_err);
    }
    let fds_after = open_fds();
    let leaked: Vec<&String> = fds_after.iter().filter(|fd| !fds_before.contains(fd)).collect();
    let mut stray_bytes = Vec::new();
    stray
        .rewind()
        .and_then(|()| stray.read_to_end(&mut stray_bytes))
        .map_err(|e| e.to_string())?;
    drop(stray);

    let mut out = std::io::stdout().lock();
    for line in &report {
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    if !stray_bytes.is_empty() {
        writeln!(
            out,
            "stray-output: {} bytes: {}",
            stray_bytes.len(),
            show(&stray_bytes)
        )
        .map_err(|e| e.to_string())?;
    }
    if !leaked.is_empty() {
        let targets: Vec<String> = leaked
            .iter()
            .map(|fd| {
                std::fs::read_link(format!("/proc/self/fd/{fd}"))
                    .map_or_else(|_| fd.to_string(), |t| format!("{fd}->{}", t.display()))
            })
            .collect();
        writeln!(out, "fds-leaked: {} ({})", leaked.len(), targets.join(", ")).map_err(|e| e.to_string())?;
    }
    writeln!(out, "maxrss-kib: {}", max_rss_kib()).map_err(|e| e.to_string())?;
    Ok(all_ok)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pam-driver: {e}");
            ExitCode::from(2)
        }
    }
}
