//! A small PAM application for tests, the demo and the benchmark: it runs a
//! real libpam transaction from a private configuration directory
//! (`pam_start_confdir`), answers prompts from its command line, and prints
//! what the stack said and returned.
//!
//! ```text
//! pam-driver --confdir DIR --service NAME --user NAME [--rhost HOST]
//!            [--answer TEXT | --answer-hex HEX | --answer-file PATH | --answer-at-prompt PATH]...
//!            [--conv-fail | --no-reply]
//!            [--silent] [--setcred] [--real-delay] [--transactions N]
//!            [--dev-log SOCKET]
//! ```
//!
//! Output, one line each, printed after `pam_end` so that nothing the module
//! might write to stdout or stderr is mixed in:
//! `prompt: TEXT` (echo off), `prompt-echo-on: TEXT`, `info: TEXT`,
//! `error: TEXT`, `delay: USEC` (the fail delay libpam asked for; not slept
//! unless `--real-delay`), `stray-output: N bytes` if the stack wrote to
//! stdout/stderr, `fds-leaked: N` if descriptors were left open, `threads-leaked: N`
//! if threads were left running, `maxrss-kib: N`,
//! `vmpeak-kib: N` (peak address space, for tests under RLIMIT_AS),
//! and `result: PAM_NAME` per transaction. Exit status 0 if every transaction
//! succeeded, 1 if one did not, 2 on a usage or setup error.
//!
//! `--dev-log DIR/log` runs the transaction in a private mount namespace whose
//! /dev is DIR, holding the given datagram socket `log`, so a test can read the module's
//! syslog lines without touching the system's /dev.
#![allow(unsafe_code, missing_docs)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr, OsString, c_char, c_int, c_uint, c_void};
use std::io::{Read, Seek, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use nix::libc;
use nix::mount::{MsFlags, mount};
use nix::unistd::{dup, dup2_stderr, dup2_stdout};
use pam::constants::{
    PAM_ERROR_MSG, PAM_ESTABLISH_CRED, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_SILENT, PAM_TEXT_INFO,
    PamResultCode,
};
use pam::items::ItemType;

/// A private mount namespace, made as the tests' lab makes one.
#[path = "../tests/common/namespace.rs"]
mod namespace;

/// `struct pam_message` of <security/pam_appl.h>.
#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

/// `struct pam_response`.
#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    unsafe extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

type DelayFn = unsafe extern "C" fn(c_int, c_uint, *mut c_void);

// The application side of libpam, which pam-bindings (a module's view)
// does not bind.
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

const PAM_SUCCESS: c_int = PamResultCode::PAM_SUCCESS as c_int;
const PAM_CONV_ERR: c_int = PamResultCode::PAM_CONV_ERR as c_int;

/// The name of a PAM result, as <security/_pam_types.h> spells it.
fn result_name(code: c_int) -> String {
    PamResultCode::try_from(code).map_or_else(|code| format!("PAM_UNKNOWN({code})"), |r| format!("{r:?}"))
}

#[derive(Clone, Copy, PartialEq)]
enum ConvMode {
    Answer,
    Fail,
    NoReply,
}

/// One answer: given on the command line, or read from a file when its
/// prompt comes (`--answer-at-prompt`: a FIFO lets a test choose the moment
/// between the prompt and the judgement).
#[derive(Clone)]
enum Answer {
    Now(Vec<u8>),
    AtPrompt(PathBuf),
}

/// What the conversation answers and what it has seen.
struct Conversation {
    mode: ConvMode,
    answers: Vec<Answer>,
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
            PAM_PROMPT_ECHO_OFF => ("prompt", true),
            PAM_PROMPT_ECHO_ON => ("prompt-echo-on", true),
            PAM_ERROR_MSG => ("error", false),
            PAM_TEXT_INFO => ("info", false),
            _ => ("message", false),
        };
        conv.lines.push(format!("{label}: {text}"));
        if !wants_answer {
            continue;
        }
        let answer = match conv.answers.get(conv.next) {
            Some(Answer::Now(bytes)) => bytes.clone(),
            Some(Answer::AtPrompt(path)) => std::fs::read(path).unwrap_or_default(),
            None => Vec::new(),
        };
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

/// Runs real libpam transactions from a private configuration directory.
#[derive(Parser)]
#[command(name = "pam-driver")]
struct Args {
    /// The PAM configuration directory (pam_start_confdir)
    #[arg(long)]
    confdir: PathBuf,
    /// The service name
    #[arg(long, allow_hyphen_values = true)]
    service: OsString,
    /// The user name [default, or empty: none, the stack asks]
    #[arg(long, allow_hyphen_values = true)]
    user: Option<OsString>,
    /// PAM_RHOST
    #[arg(long, allow_hyphen_values = true)]
    rhost: Option<OsString>,
    /// Answer to the next prompt, as given
    #[arg(long, allow_hyphen_values = true)]
    answer: Vec<OsString>,
    /// Answer to the next prompt, in hexadecimal
    #[arg(long, value_parser = parse_hex)]
    answer_hex: Vec<Bytes>,
    /// Answer to the next prompt, the content of a file
    #[arg(long)]
    answer_file: Vec<PathBuf>,
    /// Answer to the next prompt, the content of a file read when the prompt comes (a FIFO)
    #[arg(long)]
    answer_at_prompt: Vec<PathBuf>,
    /// The conversation fails (PAM_CONV_ERR)
    #[arg(long, conflicts_with = "no_reply")]
    conv_fail: bool,
    /// The conversation returns PAM_SUCCESS with no replies
    #[arg(long)]
    no_reply: bool,
    /// PAM_SILENT
    #[arg(long)]
    silent: bool,
    /// pam_setcred after a success
    #[arg(long)]
    setcred: bool,
    /// Let libpam sleep the fail delay instead of recording it
    #[arg(long)]
    real_delay: bool,
    /// Transactions to run, one after the other
    #[arg(long, default_value_t = 1)]
    transactions: u32,
    /// A datagram socket named `log` to serve as /dev/log
    #[arg(long)]
    dev_log: Option<PathBuf>,
}

/// Bytes given in hexadecimal.
#[derive(Clone)]
struct Bytes(Vec<u8>);

fn parse_hex(s: &str) -> Result<Bytes, String> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".to_owned());
    }
    s.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Bytes)
        .ok_or_else(|| "not hex".to_owned())
}

/// The arguments, and the answers in the order they were given, whatever
/// their kind.
fn parse_args() -> Result<(Args, Vec<Answer>, ConvMode), String> {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let indices = |id: &str| matches.indices_of(id).into_iter().flatten();
    let mut answers: Vec<(usize, Answer)> = indices("answer")
        .zip(args.answer.iter().map(|a| Answer::Now(a.clone().into_vec())))
        .chain(indices("answer_hex").zip(args.answer_hex.iter().map(|b| Answer::Now(b.0.clone()))))
        .chain(indices("answer_at_prompt").zip(args.answer_at_prompt.iter().cloned().map(Answer::AtPrompt)))
        .collect();
    for (index, path) in indices("answer_file").zip(&args.answer_file) {
        let bytes = std::fs::read(path).map_err(|e| format!("--answer-file {}: {e}", path.display()))?;
        answers.push((index, Answer::Now(bytes)));
    }
    answers.sort_by_key(|(index, _)| *index);
    let mode = if args.conv_fail {
        ConvMode::Fail
    } else if args.no_reply {
        ConvMode::NoReply
    } else {
        ConvMode::Answer
    };
    Ok((args, answers.into_iter().map(|(_, a)| a).collect(), mode))
}

fn c_string(s: &[u8], what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

/// The threads of this process (a module must not leave one running).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
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
    proc_status_kib("VmHWM:")
}

/// A `kB` field of /proc/self/status (`VmHWM:`, `VmPeak:`), or -1.
fn proc_status_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(-1)
}

/// Gives this process a private /dev: the directory holding `socket`, which
/// must be named `log`, with the usual character devices bound into it.
fn private_dev_log(socket: &Path) -> Result<(), String> {
    if socket.file_name() != Some(OsStr::new("log")) {
        return Err("--dev-log: the socket must be named `log`".to_owned());
    }
    let dir = socket.parent().unwrap_or(Path::new("."));
    let bind = |from: &Path, to: &Path, flags: MsFlags| {
        mount(Some(from), to, None::<&str>, flags, None::<&str>)
            .map_err(|e| format!("--dev-log: mount {} on {}: {e}", from.display(), to.display()))
    };
    namespace::enter_private_mount_namespace()
        .map_err(|e| format!("--dev-log: a private mount namespace: {e}"))?;
    for name in ["null", "zero", "random", "urandom", "full"] {
        let target = dir.join(name);
        std::fs::File::create(&target).map_err(|e| format!("--dev-log: {e}"))?;
        bind(&Path::new("/dev").join(name), &target, MsFlags::MS_BIND)?;
    }
    // The module also sends its events to journald where it runs: the
    // test's lines stay out of the host's journal too (a test that reads
    // them binds its own directory over /run before the driver starts).
    let journal = Path::new("/run/systemd/journal");
    if journal.is_dir() && !journal.join("pbc-test").exists() {
        bind(dir, journal, MsFlags::MS_BIND)?;
    }
    bind(dir, Path::new("/dev"), MsFlags::MS_BIND | MsFlags::MS_REC)
}

fn run() -> Result<bool, String> {
    let (args, answers, mode) = parse_args()?;
    if let Some(socket) = &args.dev_log {
        private_dev_log(socket)?;
    }
    let service = c_string(args.service.as_bytes(), "service")?;
    let user = args
        .user
        .as_ref()
        .filter(|u| !u.is_empty())
        .map(|u| c_string(u.as_bytes(), "user"))
        .transpose()?;
    let confdir = c_string(args.confdir.as_os_str().as_bytes(), "confdir")?;
    let rhost = args
        .rhost
        .as_ref()
        .map(|h| c_string(h.as_bytes(), "rhost"))
        .transpose()?;

    // Anything the stack writes to stdout or stderr lands here, not in the report.
    let mut stray = tempfile::tempfile().map_err(|e| format!("temporary file: {e}"))?;
    fn io(what: &'static str) -> impl Fn(nix::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let saved_out = dup(std::io::stdout()).map_err(io("dup stdout"))?;
    let saved_err = dup(std::io::stderr()).map_err(io("dup stderr"))?;
    std::io::stdout().flush().ok();
    // A host's syslog connection is libc's, opened once and kept: open it
    // now so that it is not counted as a descriptor the stack leaked.
    // SAFETY: a NULL ident keeps the program name; the flags are valid.
    unsafe { libc::openlog(std::ptr::null(), libc::LOG_NDELAY, libc::LOG_AUTHPRIV) };
    let fds_before = open_fds();
    let threads_before = threads();
    dup2_stdout(&stray).map_err(io("redirect stdout"))?;
    dup2_stderr(&stray).map_err(io("redirect stderr"))?;

    let mut report = Vec::new();
    let mut all_ok = true;
    for _ in 0..args.transactions {
        let mut conversation = Conversation {
            mode,
            answers: answers.clone(),
            next: 0,
            lines: Vec::new(),
        };
        let conv = PamConv {
            conv: Some(converse),
            appdata_ptr: (&raw mut conversation).cast(),
        };
        let mut pamh: *mut c_void = std::ptr::null_mut();
        let user_ptr = user.as_ref().map_or(std::ptr::null(), |u| u.as_ptr());
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
            unsafe { pam_set_item(pamh, ItemType::RHost as c_int, host.as_ptr().cast()) };
        }
        if !args.real_delay {
            let delay: DelayFn = record_delay;
            // SAFETY: PAM_FAIL_DELAY takes a function pointer as the item.
            unsafe { pam_set_item(pamh, ItemType::FailDelay as c_int, delay as *const c_void) };
        }
        let flags = if args.silent { PAM_SILENT as c_int } else { 0 };
        // SAFETY: live handle from pam_start_confdir.
        let mut result = unsafe { pam_authenticate(pamh, flags) };
        report.append(&mut conversation.lines);
        for usec in DELAYS.with(|d| std::mem::take(&mut *d.borrow_mut())) {
            report.push(format!("delay: {usec}"));
        }
        report.push(format!("result: {}", result_name(result)));
        if args.setcred && result == PAM_SUCCESS {
            // SAFETY: live handle.
            result = unsafe { pam_setcred(pamh, PAM_ESTABLISH_CRED as c_int | flags) };
            report.push(format!("setcred: {}", result_name(result)));
        }
        all_ok &= result == PAM_SUCCESS;
        // SAFETY: ends the transaction; the handle is not used again.
        unsafe { pam_end(pamh, result) };
    }

    dup2_stdout(&saved_out).map_err(io("restore stdout"))?;
    dup2_stderr(&saved_err).map_err(io("restore stderr"))?;
    drop((saved_out, saved_err));
    let fds_after = open_fds();
    let threads_after = threads();
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
    if threads_after > threads_before {
        writeln!(out, "threads-leaked: {}", threads_after - threads_before).map_err(|e| e.to_string())?;
    }
    writeln!(out, "maxrss-kib: {}", max_rss_kib()).map_err(|e| e.to_string())?;
    writeln!(out, "vmpeak-kib: {}", proc_status_kib("VmPeak:")).map_err(|e| e.to_string())?;
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
