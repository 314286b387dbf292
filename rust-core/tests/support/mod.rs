//! Test support: a real Git server (lighttpd + git http-backend, sshd) and a Kestra API stub
//! serving Kestra 2.0's formats. Both bind 127.0.0.1 and stop when dropped.
#![allow(dead_code)] // each test binary uses a different part

pub mod git_server;
pub mod kestra_stub;
