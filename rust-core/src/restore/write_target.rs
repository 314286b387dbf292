//! Where a restore's writes go, as one archive or one entry without an archive: flows to
//! `POST flows/import` (multipart `fileUpload`: a `.zip`, or one flow as a `.yml` file), namespace
//! files to `POST namespaces/{ns}/files` (multipart `fileContent`: a `.zip` that Kestra unpacks at
//! `path=/`, or one file stored at `path=/<path>`, its part never named `*.zip` so Kestra stores
//! it as it is).

use crate::error::{CoreError, ErrorCode};
use crate::export::KestraClient;
use crate::progress::Log;
use reqwest::blocking::multipart::{Form, Part};
use std::path::Path;

pub(super) trait WriteTarget {
    /// Writes every entry of the ZIP archive at `archive`.
    fn archive(&self, client: &KestraClient, archive: &Path, log: &mut Log) -> Result<(), CoreError>;
    /// Writes one entry without an archive (Kestra's ZIP-bomb protection does not apply).
    fn single(&self, client: &KestraClient, name: &str, bytes: Vec<u8>, log: &mut Log) -> Result<(), CoreError>;
}

pub(super) struct FlowImport;

impl FlowImport {
    fn import(client: &KestraClient, part: &dyn Fn() -> Result<Part, CoreError>, entries: usize, log: &mut Log) -> Result<(), CoreError> {
        let form = || Ok(Form::new().part("fileUpload", part()?));
        let body = client
            .write_multipart("flows/import", &[("failOnError", "false")], &form, log)?
            .text()
            .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API flows/import: {e}")))?;
        // Kestra answers with the entries it could not import.
        let failed: Vec<String> = serde_json::from_str(&body).unwrap_or_default();
        if !failed.is_empty() {
            return Err(CoreError::new(
                ErrorCode::InvalidBackup,
                format!("Kestra refused {} of the {entries} flow(s) of an import: {}", failed.len(), failed.join(", ")),
            ));
        }
        Ok(())
    }
}

impl WriteTarget for FlowImport {
    fn archive(&self, client: &KestraClient, archive: &Path, log: &mut Log) -> Result<(), CoreError> {
        let entries = zip::ZipArchive::new(std::fs::File::open(archive)?).map_or(0, |z| z.len());
        FlowImport::import(client, &|| file_part(archive, "flows.zip", "application/zip"), entries, log)
    }

    fn single(&self, client: &KestraClient, name: &str, bytes: Vec<u8>, log: &mut Log) -> Result<(), CoreError> {
        // Kestra reads a `.yml` upload as `---`-separated documents: such a line would split the flow.
        if String::from_utf8_lossy(&bytes).lines().any(|line| line.trim_end() == "---") {
            return Err(CoreError::new(
                ErrorCode::KestraApi,
                format!(
                    "`{name}` is larger than Kestra's ZIP entry limit and holds a `---` line, so it cannot be imported as a single YAML file either; \
                     raise `kestra.security.zip-bomb-protection.max-entry-size` on the server for the restore"
                ),
            ));
        }
        let file_name = name.rsplit('/').next().unwrap_or(name);
        FlowImport::import(client, &|| bytes_part(bytes.clone(), file_name.to_string(), "application/x-yaml"), 1, log)
    }
}

pub(super) struct FileUpload {
    path: String,
}

impl FileUpload {
    pub(super) fn new(namespace: &str) -> Self {
        FileUpload { path: format!("namespaces/{}/files", percent_encoding::utf8_percent_encode(namespace, percent_encoding::NON_ALPHANUMERIC)) }
    }
}

impl WriteTarget for FileUpload {
    fn archive(&self, client: &KestraClient, archive: &Path, log: &mut Log) -> Result<(), CoreError> {
        let form = || Ok(Form::new().part("fileContent", file_part(archive, "files.zip", "application/zip")?));
        client.write_multipart(&self.path, &[("path", "/")], &form, log)?;
        Ok(())
    }

    fn single(&self, client: &KestraClient, name: &str, bytes: Vec<u8>, log: &mut Log) -> Result<(), CoreError> {
        let path = format!("/{name}");
        let form = || Ok(Form::new().part("fileContent", bytes_part(bytes.clone(), "content".to_string(), "application/octet-stream")?));
        client.write_multipart(&self.path, &[("path", path.as_str())], &form, log)?;
        Ok(())
    }
}

fn file_part(path: &Path, name: &str, mime: &str) -> Result<Part, CoreError> {
    Part::file(path)?.file_name(name.to_string()).mime_str(mime).map_err(part_error)
}

fn bytes_part(bytes: Vec<u8>, name: String, mime: &str) -> Result<Part, CoreError> {
    Part::bytes(bytes).file_name(name).mime_str(mime).map_err(part_error)
}

fn part_error(e: reqwest::Error) -> CoreError {
    CoreError::new(ErrorCode::Internal, format!("cannot build the upload: {e}"))
}
