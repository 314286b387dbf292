//! Writes to Kestra: flows through one ZIP import (`POST flows/import`, Kestra creates or updates
//! each flow), namespace files through one ZIP upload per namespace (`POST
//! namespaces/{ns}/files`, Kestra unpacks it into the namespace). The archives are built in
//! temporary files, so memory holds one file at a time.

use crate::error::{CoreError, ErrorCode};
use crate::export::KestraClient;
use crate::progress::Log;
use reqwest::blocking::multipart::{Form, Part};
use std::io::Write;
use std::path::Path;

/// Imports the flows (repository path, source); the number imported.
pub fn flows(client: &KestraClient, flows: &[(String, String)], log: &mut Log) -> Result<usize, CoreError> {
    if flows.is_empty() {
        return Ok(0);
    }
    let archive = zip_of(flows.iter().map(|(path, source)| Ok((path.clone(), source.clone().into_bytes()))))?;
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
            format!("Kestra imported {} of {} flow(s) and refused: {}", flows.len() - failed.len(), flows.len(), failed.join(", ")),
        ));
    }
    log.info(format!("Imported {} flow(s)", flows.len()));
    Ok(flows.len())
}

/// Uploads files (namespace-relative path, bytes) into `namespace`.
pub fn namespace_files(
    client: &KestraClient,
    namespace: &str,
    files: impl Iterator<Item = Result<(String, Vec<u8>), CoreError>>,
    log: &mut Log,
) -> Result<(), CoreError> {
    let archive = zip_of(files)?;
    let path = format!("namespaces/{}/files", percent_encoding::utf8_percent_encode(namespace, percent_encoding::NON_ALPHANUMERIC));
    let form = || Ok(Form::new().part("fileContent", file_part(archive.path(), "files.zip")?));
    client.post_multipart(&path, &[("path", "/")], &form, log)?;
    log.info(format!("Uploaded the namespace files of `{namespace}`"));
    Ok(())
}

fn zip_of(entries: impl Iterator<Item = Result<(String, Vec<u8>), CoreError>>) -> Result<tempfile::NamedTempFile, CoreError> {
    let zip_error = |e: zip::result::ZipError| CoreError::new(ErrorCode::Io, format!("cannot build the archive to upload: {e}"));
    let file = tempfile::NamedTempFile::new()?;
    let mut zip = zip::ZipWriter::new(file.reopen()?);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for entry in entries {
        let (name, bytes) = entry?;
        zip.start_file(name, options).map_err(zip_error)?;
        zip.write_all(&bytes)?;
    }
    zip.finish().map_err(zip_error)?;
    Ok(file)
}

fn file_part(path: &Path, name: &str) -> Result<Part, CoreError> {
    Part::file(path)?
        .file_name(name.to_string())
        .mime_str("application/zip")
        .map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot build the upload: {e}")))
}
