//! `backup-codes`: the administration command of pam-backup-codes.

fn main() -> std::process::ExitCode {
    pam_backup_codes::cli::main()
}
