//! JNI bridge: the only module that imports `jni`. Two native methods of
//! `io.kestra.plugin.git.backup.internal.NativeCore`:
//! - `static String version()`: the core's version, checked by Java at load time;
//! - `static String run(String requestJson, LogSink sink)`: one backup; returns the `run_json`
//!   envelope and forwards each log event to `sink.log(level, message)` as it happens, on the
//!   calling thread.
//!
//! A panic of the job never unwinds into the JVM: `run_json` answers it as an `Internal` error
//! envelope. A JNI-level failure becomes exactly one Java exception (jni's policy).

use crate::progress::LogEvent;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject, JString};
use jni::{Env, EnvUnowned, JValue, jni_sig, jni_str};
use std::sync::Once;

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_kestra_plugin_git_backup_internal_NativeCore_version<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
) -> JString<'caller> {
    env.with_env(|env| JString::from_str(env, crate::VERSION)).resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_kestra_plugin_git_backup_internal_NativeCore_run<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    request: JString<'caller>,
    sink: JObject<'caller>,
) -> JString<'caller> {
    env.with_env(|env| -> jni::errors::Result<_> {
        let json = request.try_to_string(env)?;
        quiet_panics();
        let answer = {
            let mut forward = |event: &LogEvent| forward_log(env, &sink, event);
            crate::run_json(&json, &mut forward)
        };
        JString::from_str(env, answer)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// The default panic hook prints the panic's message, unredacted, to the JVM's stderr (Kestra's
/// server log). Print only where it happened; the redacted message reaches the task as its error.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            eprintln!("kestra-git-backup: internal error{at}; the task's error carries the message");
        }))
    });
}

/// Calls `sink.log(level, message)` in its own local frame. A failing sink must not fail the
/// backup: a pending Java exception is cleared.
fn forward_log(env: &mut Env, sink: &JObject, event: &LogEvent) {
    if sink.is_null() {
        return;
    }
    let _ = env.with_local_frame(4, |env| -> jni::errors::Result<()> {
        let level = JString::from_str(env, event.level.as_str())?;
        let message = JString::from_str(env, &event.message)?;
        env.call_method(
            sink,
            jni_str!("log"),
            jni_sig!("(Ljava/lang/String;Ljava/lang/String;)V"),
            &[JValue::Object(&level), JValue::Object(&message)],
        )?;
        Ok(())
    });
    if env.exception_check() {
        env.exception_clear();
    }
}
