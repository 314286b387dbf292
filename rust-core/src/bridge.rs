//! JNI bridge: the only module that imports `jni`. Two native methods of
//! `io.kestra.plugin.git.backup.internal.NativeCore`:
//! - `static String version()`: the core's version, checked by Java at load time;
//! - `static String run(String requestJson, LogSink sink)`: one backup; returns the `run_json`
//!   envelope and forwards each log event to `sink.log(level, message)` as it happens, on the
//!   calling thread.
//!
//! One guard: a panic inside the core becomes an `Internal` error envelope, never an unwind into
//! the JVM; a JNI-level failure becomes exactly one Java exception (jni's policy).

use crate::progress::LogEvent;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject, JString};
use jni::{Env, EnvUnowned, JValue, jni_sig, jni_str};
use std::panic::{AssertUnwindSafe, catch_unwind};
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
        let answer = {
            let mut forward = |event: &LogEvent| forward_log(env, &sink, event);
            guarded(|| crate::run_json(&json, &mut forward))
        };
        JString::from_str(env, answer)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// Runs the core, turning a panic into an `Internal` error envelope.
fn guarded(body: impl FnOnce() -> String) -> String {
    static QUIET_PANICS: Once = Once::new();
    // The default hook prints to the JVM's stderr with a backtrace; a short line is enough, the
    // message reaches the task through the envelope.
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("kestra-git-backup: internal error: {info}"))));
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        serde_json::json!({"error": {"code": "Internal", "message": format!("internal error in the native core: {what}"), "localCommit": null}})
            .to_string()
    })
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

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn a_panic_becomes_an_internal_error_envelope() {
        let answer: serde_json::Value = serde_json::from_str(&guarded(|| panic!("boom"))).unwrap();
        assert_eq!(answer["error"]["code"], "Internal");
        assert!(answer["error"]["message"].as_str().unwrap().contains("boom"));
    }
}
