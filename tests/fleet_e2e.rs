//! The fleet store end to end: a private sshd and real sudo, each a "host"
//! with its own configuration and host name, on one throwaway PostgreSQL.
//! The module runs in sshd's forked session process and inside sudo.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::process::Command;

use common::postgres::{Fleet, NEEDS};
use common::skip_unless;
use common::system::{PamService, SshClient, Sshd, Sudoers, TestUser, example_with, run_with_input};

/// sshd on a host of the fleet: a code is the one factor (keyboard-interactive).
fn sshd_host(fleet: &Fleet, user: &TestUser, host: &str) -> Sshd {
    let config = fleet.host_config(host, &fleet.login_uri(), "");
    let pam = format!(
        "auth required {} config={}\naccount required pam_permit.so\n\
         session required pam_permit.so\npassword required pam_deny.so\n",
        fleet.lab.module.display(),
        config.display()
    );
    Sshd::start(&pam, &user.name, "AuthenticationMethods keyboard-interactive")
}

#[test]
fn a_code_used_through_sshd_on_one_host_is_refused_by_sshd_on_another() {
    skip_unless!(needs = NEEDS);
    skip_unless!("sshd", "ssh", "ssh-keygen");
    let (fleet, user) = (Fleet::new(), TestUser::new());
    let codes = fleet.generate(&user.name, &[]);
    let web1 = sshd_host(&fleet, &user, "web1");
    let web2 = sshd_host(&fleet, &user, "web2");
    let to_web1 = SshClient::new(&user.name, web1.port, None);
    let to_web2 = SshClient::new(&user.name, web2.port, None);

    let first = to_web1.run(&codes[4], "id -un");
    assert_eq!(first.status, Some(0), "{first:?}\nsshd: {:#?}", web1.log());
    assert_eq!(first.stdout.trim(), user.name);
    assert!(first.stderr.contains("9 backup codes left."), "{first:?}");

    let again = to_web2.run(&codes[4], "id -un");
    assert_eq!(again.status, Some(255), "{again:?}");
    let failed = format!("Failed keyboard-interactive/pam for {} from 127.0.0.1", user.name);
    assert!(web2.logged(&failed), "{:#?}", web2.log());

    let other = to_web2.run(&codes[5], "id -un");
    assert_eq!(other.status, Some(0), "{other:?}\nsshd: {:#?}", web2.log());
    let uses = fleet.uses(&user.name);
    assert_eq!(
        uses,
        [
            format!("web1 {} 127.0.0.1", web1.service),
            format!("web2 {} 127.0.0.1", web2.service)
        ]
    );
    let status = fleet.status(&user.name);
    assert_eq!(status["remaining"], 8);
    assert_eq!(status["last_failure"]["host"], "web2", "{status}");
}

#[test]
fn sudo_takes_a_fleet_code_once_and_refuses_one_spent_elsewhere() {
    skip_unless!(needs = NEEDS);
    skip_unless!("sudo", "visudo", "runuser");
    let (fleet, user) = (Fleet::new(), TestUser::new());
    fleet.host("web1", "nodelay", "");
    let config = fleet.host_config("sudohost", &fleet.login_uri(), "");
    let service = PamService::install(
        "bc-fleet-sudo-",
        &example_with(
            &fleet.lab,
            "sudo-backup-codes",
            &format!("config={}", config.display()),
        ),
    );
    let _sudoers = Sudoers::install(&format!(
        "Defaults:{u} pam_service={s}, !lecture, timestamp_timeout=0, passwd_tries=1\n\
         {u} ALL=(root) ALL\n",
        u = user.name,
        s = service.name
    ));
    let codes = fleet.generate(&user.name, &[]);
    let sudo = |code: &str| {
        run_with_input(
            Command::new("runuser").args(["-u", &user.name, "--", "sudo", "-S", "id", "-u"]),
            &format!("{code}\n"),
        )
    };
    let first = sudo(&codes[0]);
    assert!(first.status.success(), "{first:?}");
    assert_eq!(String::from_utf8_lossy(&first.stdout), "0\n");
    assert!(!sudo(&codes[0]).status.success(), "the same code twice");
    // Spent on another host (the lab's driver, "web1"), refused by sudo.
    assert_eq!(
        fleet.lab.login("web1", &user.name, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
    let spent = sudo(&codes[1]);
    assert!(!spent.status.success(), "{spent:?}");
    let uses = fleet.uses(&user.name);
    assert_eq!(uses.len(), 2);
    assert_eq!(
        uses[0],
        format!("sudohost {} -", service.name),
        "sudo has no remote host"
    );
}
