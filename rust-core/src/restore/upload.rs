//! Writes to Kestra: flows through imports (`POST flows/import`, Kestra creates or updates each
//! flow), namespace files through uploads per namespace (`POST namespaces/{ns}/files`). Entries go
//! in ZIP archives of `restore.batchSize`, built in temporary files (memory holds one entry at a
//! time). Kestra's ZIP-bomb protection, when an operator enables it, limits the entries of an
//! archive and the size of each entry, and answers 422 naming the setting after the entries before
//! the limit were written: an archive with too many entries is sent again in smaller ones (and so
//! are the archives after it), the entries of one with an entry too large go one by one without an
//! archive, and namespace files of `restore.largeFileBytes` or more go that way from the start.
//! A restore only adds, so an entry written twice is harmless.

use super::write_target::{FileUpload, FlowImport, WriteTarget};
use crate::error::{CoreError, ErrorCode};
use crate::export::KestraClient;
use crate::progress::Log;
use crate::request::RestoreOptions;
use std::io::Write;

/// Entry `i` of a write: its name in the archive and its bytes, read when it is sent.
type ReadEntry<'a> = &'a dyn Fn(usize) -> Result<(String, Vec<u8>), CoreError>;

/// Imports the flows (repository path, source); the number imported. A batch Kestra partly
/// refuses stops the restore (the batches before it are imported: running it again after the fix
/// completes it).
pub fn flows(client: &KestraClient, flows: &[(String, String)], options: &RestoreOptions, log: &mut Log) -> Result<usize, CoreError> {
    let read = |i: usize| Ok((flows[i].0.clone(), flows[i].1.clone().into_bytes()));
    let mut writer = Writer { client, target: &FlowImport, batch_size: options.batch_size, large_file_bytes: None };
    writer.write_all(flows.len(), &read, log)?;
    log.info(format!("Imported {} flow(s)", flows.len()));
    Ok(flows.len())
}

/// Uploads `count` files of `namespace` (namespace-relative path, bytes, read one at a time).
pub fn namespace_files(client: &KestraClient, namespace: &str, count: usize, read: ReadEntry, options: &RestoreOptions, log: &mut Log) -> Result<(), CoreError> {
    let target = FileUpload::new(namespace);
    let mut writer = Writer { client, target: &target, batch_size: options.batch_size, large_file_bytes: Some(options.large_file_bytes) };
    writer.write_all(count, read, log)?;
    log.info(format!("Uploaded {count} namespace file(s) of `{namespace}`"));
    Ok(())
}

/// Which limit of Kestra's ZIP-bomb protection refused an archive, read from Kestra's 422 message
/// (it names the setting, `kestra.security.zip-bomb-protection.*`, and the entry limit).
#[derive(Debug, PartialEq, Eq)]
enum ZipLimit {
    /// `max-number-of-entries`, with the limit when the message gives it.
    Entries(Option<usize>),
    /// `max-entry-size`.
    EntrySize,
}

fn zip_limit(e: &CoreError) -> Option<ZipLimit> {
    if e.code != ErrorCode::KestraApi {
        return None;
    }
    if e.message.contains("zip-bomb-protection.max-number-of-entries") {
        let limit = e.message.split("more than ").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok());
        return Some(ZipLimit::Entries(limit));
    }
    e.message.contains("zip-bomb-protection.max-entry-size").then_some(ZipLimit::EntrySize)
}

struct Writer<'a> {
    client: &'a KestraClient,
    target: &'a dyn WriteTarget,
    /// Shrinks when Kestra refuses an archive for its number of entries.
    batch_size: usize,
    /// Entries this large go one by one from the start; None: every entry in an archive.
    large_file_bytes: Option<u64>,
}

impl Writer<'_> {
    fn write_all(&mut self, count: usize, read: ReadEntry, log: &mut Log) -> Result<(), CoreError> {
        let mut batch = Vec::new();
        let mut archive = Archive::new()?;
        for i in 0..count {
            let (name, bytes) = read(i)?;
            if self.large_file_bytes.is_some_and(|large| bytes.len() as u64 >= large) {
                self.target.single(self.client, &name, bytes, log)?;
                continue;
            }
            archive.add(&name, &bytes)?;
            batch.push(i);
            if batch.len() >= self.batch_size {
                self.send(&std::mem::take(&mut batch), std::mem::replace(&mut archive, Archive::new()?), read, log)?;
            }
        }
        if !batch.is_empty() {
            self.send(&batch, archive, read, log)?;
        }
        Ok(())
    }

    /// Sends one archive holding the entries `batch`, coping with Kestra's ZIP limits.
    fn send(&mut self, batch: &[usize], archive: Archive, read: ReadEntry, log: &mut Log) -> Result<(), CoreError> {
        let file = archive.finish()?;
        let e = match self.target.archive(self.client, file.path(), log) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match zip_limit(&e) {
            Some(ZipLimit::Entries(limit)) if batch.len() > 1 => {
                self.batch_size = limit.filter(|&l| l > 0 && l < batch.len()).unwrap_or(batch.len() / 2);
                log.warn(format!(
                    "Kestra refused an archive of {} entries (its ZIP-bomb protection limits the entries per archive); sending them again {} per archive",
                    batch.len(),
                    self.batch_size
                ));
                for part in batch.chunks(self.batch_size) {
                    let mut archive = Archive::new()?;
                    for &i in part {
                        let (name, bytes) = read(i)?;
                        archive.add(&name, &bytes)?;
                    }
                    self.send(part, archive, read, log)?;
                }
                Ok(())
            }
            Some(ZipLimit::EntrySize) => {
                log.warn(format!(
                    "Kestra refused an archive of {} entries (its ZIP-bomb protection limits the size of an entry); sending them one by one without an archive",
                    batch.len()
                ));
                for &i in batch {
                    let (name, bytes) = read(i)?;
                    self.target.single(self.client, &name, bytes, log)?;
                }
                Ok(())
            }
            _ => Err(e),
        }
    }
}

/// A ZIP archive being built in a temporary file.
struct Archive {
    file: tempfile::NamedTempFile,
    zip: zip::ZipWriter<std::fs::File>,
}

impl Archive {
    fn new() -> Result<Self, CoreError> {
        let file = tempfile::NamedTempFile::new()?;
        let zip = zip::ZipWriter::new(file.reopen()?);
        Ok(Archive { file, zip })
    }

    fn add(&mut self, name: &str, bytes: &[u8]) -> Result<(), CoreError> {
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        self.zip.start_file(name, options).map_err(zip_error)?;
        self.zip.write_all(bytes)?;
        Ok(())
    }

    fn finish(self) -> Result<tempfile::NamedTempFile, CoreError> {
        self.zip.finish().map_err(zip_error)?;
        Ok(self.file)
    }
}

fn zip_error(e: zip::result::ZipError) -> CoreError {
    CoreError::new(ErrorCode::Io, format!("cannot build the archive to upload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(message: &str) -> CoreError {
        CoreError::new(ErrorCode::KestraApi, format!("Kestra API namespaces/a/files answered 422: {message}"))
    }

    #[test]
    fn kestra_zip_limit_messages_are_recognised() {
        let entries = api_error(
            "Cannot decompress the archive because it contains more than 25 entries. This limit is enforced by ZIP-bomb protection (kestra.security.zip-bomb-protection.max-number-of-entries).",
        );
        assert_eq!(zip_limit(&entries), Some(ZipLimit::Entries(Some(25))));
        let size = api_error(
            "Cannot decompress this archive entry because its uncompressed size exceeds 1024 bytes. This limit is enforced by ZIP-bomb protection (kestra.security.zip-bomb-protection.max-entry-size).",
        );
        assert_eq!(zip_limit(&size), Some(ZipLimit::EntrySize));
        assert_eq!(zip_limit(&api_error("kestra.security.zip-bomb-protection.max-number-of-entries")), Some(ZipLimit::Entries(None)));
        assert_eq!(zip_limit(&api_error("Invalid entity")), None);
        assert_eq!(zip_limit(&CoreError::new(ErrorCode::Network, "max-entry-size zip-bomb-protection.max-entry-size")), None);
    }
}
