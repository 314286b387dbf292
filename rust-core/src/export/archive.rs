//! ZIP answers (flow export, namespace files export), streamed to a temporary file so memory
//! never holds the whole archive, then read one entry at a time.

use super::client::KestraClient;
use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use std::io::{Read, Seek};

/// Called with each entry's name and content.
type OnEntry<'a> = &'a mut dyn FnMut(&str, Vec<u8>, &mut Log) -> Result<(), CoreError>;

/// Downloads `path` to a temp file and calls `each(name, bytes)` for every file entry. Returns
/// the size of the entries' contents (what was exported, not the size of the download).
pub fn for_each_entry(
    client: &KestraClient,
    path: &str,
    query: &[(&str, &str)],
    log: &mut Log,
    each: OnEntry,
) -> Result<u64, CoreError> {
    let response = client.get(path, query, log)?;
    entries_of(response, path, log, each)
}

/// `for_each_entry` for an answer already received (`path` names the call in errors).
pub fn entries_of(mut response: reqwest::blocking::Response, path: &str, log: &mut Log, each: OnEntry) -> Result<u64, CoreError> {
    let mut file = tempfile::tempfile()?;
    let downloaded = response
        .copy_to(&mut file)
        .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API {path}: the download broke off: {e}")))?;
    file.rewind()?;
    if downloaded == 0 {
        return Ok(0);
    }
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path} did not return a ZIP archive: {e}")))?;
    let mut exported = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path}: unreadable ZIP entry #{i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path}: ZIP entry #{i} has an unreadable name: {e}")))?
            .to_string();
        // The declared size only sizes the first allocation; a bogus header cannot reserve gigabytes.
        let mut content = Vec::with_capacity(entry.size().min(1 << 26) as usize);
        entry
            .read_to_end(&mut content)
            .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path}: cannot read `{name}` from the ZIP: {e}")))?;
        exported += content.len() as u64;
        each(&name, content, log)?;
    }
    Ok(exported)
}
