//! An in-memory branch tip and object store for the snapshot tests.

use super::{TipFile, TipTree};
use crate::error::CoreError;
use git2::{ObjectType, Oid};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Default)]
pub struct MemTip {
    files: Vec<TipFile>,
    blobs: RefCell<HashMap<Oid, Vec<u8>>>,
}

impl MemTip {
    pub fn blob(&self, bytes: &[u8]) -> Oid {
        let oid = Oid::hash_object(ObjectType::Blob, bytes).unwrap();
        self.blobs.borrow_mut().insert(oid, bytes.to_vec());
        oid
    }

    pub fn with(mut self, path: &str, bytes: &[u8], mode: i32) -> Self {
        let oid = self.blob(bytes);
        self.files.push(TipFile { path: path.into(), oid, mode });
        self
    }
}

impl TipTree for MemTip {
    fn files_under(&self, dir: &str) -> Result<Vec<TipFile>, CoreError> {
        let inside = |f: &&TipFile| if dir.is_empty() { !super::manifest::is_own(&f.path) } else { f.path.starts_with(&format!("{dir}/")) };
        Ok(self.files.iter().filter(inside).cloned().collect())
    }
    fn read_blob(&self, oid: Oid) -> Result<Vec<u8>, CoreError> {
        Ok(self.blobs.borrow()[&oid].clone())
    }
}
