//! Test support: a real Git server (lighttpd + git http-backend, sshd) and a Kestra API stub
//! serving Kestra 2.0's formats, both on 127.0.0.1 and stopped when dropped; a GnuPG home for
//! OpenPGP-signed commits; TCP proxies (one that breaks a push, an HTTP CONNECT one).
#![allow(dead_code)] // each test binary uses a different part

pub mod connect_proxy;
pub mod core_run;
pub mod drop_proxy;
pub mod git_server;
pub mod gpg_home;
pub mod kestra_stub;
pub mod manifest_backup;
