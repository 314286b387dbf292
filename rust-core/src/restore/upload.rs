//! Writes to Kestra: flows through ZIP imports (`POST flows/import`, Kestra creates or updates
//! each flow), namespace files through ZIP uploads per namespace (`POST namespaces/{ns}/files`,
//! Kestra unpacks them into the namespace). Archives hold at most `BATCH` entries, so that
//! Kestra's zip-bomb protection (a maximum number of entries per archive) never refuses a large
//! restore; they are built in temporary files, so memory holds one file at a time.

use crate::error::{CoreError, ErrorCode};
use crate::export::KestraClient;
use crate::progress::Log;
use reqwest::blocking::multipart::{Form, Part};
use std::io::Write;
use std::path::Path;

/// Entries per archive: far below the entry limits Kestra's zip-bomb protection is set to.
const BATCH: usize = 500;

/// Imports the flows (repository path, source); the number imported. A batch Kestra partly
/// refuses stops the restore (the batches before it are imported: a restore only adds, so running
/// it again after the fix completes it).
pub fn flows(client: &KestraClient, flows: &[(String, String)], log: &mut Log) -> Result<usize, CoreError> {
    let mut imported = 0;
    for batch in flows.chunks(BATCH) {
        let (archive, _) = zip_of(batch.iter().map(|(path, source)| Ok((path.clone(), source.clone().into_bytes()))))?;
        let form = || Ok(Form::new().part("fileUpload", file_part(archive.path(), "flows.zip")?));
        let body = client
            .post_multipart("flows/import", &[("failOnError", "false")], &form, log)?
            .text()
            .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API flows/import: {e}")))?;
        // Kestra answers with the archive entries it could not import.
        let failed: Vec<String> = serde_json::from_str(&body).unwrap_or_default();
        if !failed.is_empty() {
            return Err(CoreError::new(
                ErrorCode::InvalidBackup,
                format!("Kestra imported {} of {} flow(s) and refused: {}", imported + batch.len() - failed.len(), flows.len(), failed.join(", ")),
            ));
        }
        imported += batch.len();
        log.info(format!("Imported {imported} of {} flow(s)", flows.len()));
    }
    Ok(imported)
}

/// Uploads files (namespace-relative path, bytes) into `namespace`, `BATCH` files per archive.
pub fn namespace_files(
    client: &KestraClient,
    namespace: &str,
    mut files: impl Iterator<Item = Result<(String, Vec<u8>), CoreError>>,
    log: &mut Log,
) -> Result<(), CoreError> {
    let path = format!("namespaces/{}/files", percent_encoding::utf8_percent_encode(namespace, percent_encoding::NON_ALPHANUMERIC));
    let mut uploaded = 0;
    loop {
        let mut batch = files.by_ref().take(BATCH).peekable();
        if batch.peek().is_none() {
            break;
        }
        let (archive, count) = zip_of(batch)?;
        let form = || Ok(Form::new().part("fileContent", file_part(archive.path(), "files.zip")?));
        client.post_multipart(&path, &[("path", "/")], &form, log)?;
        uploaded += count;
    }
    log.info(format!("Uploaded {uploaded} namespace file(s) of `{namespace}`"));
    Ok(())
}

/// The archive of `entries` in a temporary file, and how many it holds.
fn zip_of(entries: impl Iterator<Item = Result<(String, Vec<u8>), CoreError>>) -> Result<(tempfile::NamedTempFile, usize), CoreError> {
    let zip_error = |e: zip::result::ZipError| CoreError::new(ErrorCode::Io, format!("cannot build the archive to upload: {e}"));
    let file = tempfile::NamedTempFile::new()?;
    let mut zip = zip::ZipWriter::new(file.reopen()?);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut count = 0;
    for entry in entries {
        let (name, bytes) = entry?;
        zip.start_file(name, options).map_err(zip_error)?;
        zip.write_all(&bytes)?;
        count += 1;
    }
    zip.finish().map_err(zip_error)?;
    Ok((file, count))
}

fn file_part(path: &Path, name: &str) -> Result<Part, CoreError> {
    Part::file(path)?
        .file_name(name.to_string())
        .mime_str("application/zip")
        .map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot build the upload: {e}")))
}
