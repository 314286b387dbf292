//! A thin pack of the commits a push adds on top of the remote's tip: each changed tree and blob
//! goes as a delta against the object at the same path in its parent commit, which the server
//! already holds (or which comes earlier in the pack). libgit2 cannot write thin packs
//! (libgit2/libgit2#5367), so its push sends every changed tree whole: a flow edited in a
//! namespace of 200 flows costs that namespace's tree, its parents and the manifest's item file,
//! about 15 KB, where the deltas are a few hundred bytes. The receiving Git completes the pack
//! with the bases it has (`index-pack --fix-thin`, which `receive-pack` always runs).
//!
//! Pack format: Git's `gitformat-pack` (version 2; objects whole or `REF_DELTA`, zlib each; the
//! SHA-1 of everything before it at the end). Deltas: one copy of the common prefix, the changed
//! middle inserted, one copy of the common suffix — all an edit of one place needs, which is what
//! a backup's trees and files mostly see; a delta no smaller than the object is not used.

use git2::{ObjectType, Oid, Repository, Tree};
use std::collections::HashSet;
use std::io::Write;

/// The most objects and bytes a pack made here takes; beyond that libgit2's push (streamed) is
/// used: big changes gain little from deltas against a single parent.
pub const MAX_OBJECTS: usize = 5_000;
const MAX_BYTES: usize = 16 << 20;

pub struct ThinPack {
    pub bytes: Vec<u8>,
    pub objects: usize,
    /// Of those, sent as deltas.
    pub deltas: usize,
}

/// The pack of the commits from `tip` back to `have` (excluded; None: back to the root, all
/// objects whole), each built on its first parent; None when one of them is a merge, when a root
/// comes before `have`, or past `MAX_OBJECTS` or `MAX_BYTES`.
pub fn build(repo: &Repository, tip: Oid, have: Option<Oid>) -> Result<Option<ThinPack>, git2::Error> {
    let mut commits = Vec::new();
    let mut at = Some(tip);
    while at != have {
        let Some(id) = at else { return Ok(None) };
        let commit = repo.find_commit(id)?;
        if commit.parent_count() > 1 || commits.len() >= MAX_OBJECTS {
            return Ok(None);
        }
        at = commit.parent_ids().next();
        commits.push(commit);
    }
    let mut pack = PackWriter::new(repo);
    for commit in commits.iter().rev() {
        let parent_tree = commit.parents().next().map(|p| p.tree()).transpose()?;
        pack.tree(&commit.tree()?, parent_tree.as_ref())?;
        pack.whole(commit.id(), ObjectType::Commit)?;
        if pack.full() {
            return Ok(None);
        }
    }
    Ok(Some(pack.finish()))
}

struct PackWriter<'r> {
    repo: &'r Repository,
    odb: git2::Odb<'r>,
    /// Each object: header and zlib data, in pack order.
    entries: Vec<Vec<u8>>,
    deltas: usize,
    size: usize,
    written: HashSet<Oid>,
}

impl<'r> PackWriter<'r> {
    fn new(repo: &'r Repository) -> Self {
        let odb = repo.odb().expect("a repository has an object database");
        PackWriter { repo, odb, entries: Vec::new(), deltas: 0, size: 0, written: HashSet::new() }
    }

    fn full(&self) -> bool {
        self.entries.len() > MAX_OBJECTS || self.size > MAX_BYTES
    }

    /// `tree` and what changed under it, against `base` (the same path in the parent commit).
    fn tree(&mut self, tree: &Tree, base: Option<&Tree>) -> Result<(), git2::Error> {
        if base.is_some_and(|b| b.id() == tree.id()) || self.written.contains(&tree.id()) || self.full() {
            return Ok(());
        }
        for entry in tree.iter() {
            let old = base.and_then(|b| b.get_name_bytes(entry.name_bytes())).filter(|o| o.kind() == entry.kind());
            if old.as_ref().is_some_and(|o| o.id() == entry.id()) {
                continue;
            }
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let old_tree = old.map(|o| self.repo.find_tree(o.id())).transpose()?;
                    self.tree(&self.repo.find_tree(entry.id())?, old_tree.as_ref())?;
                }
                Some(ObjectType::Blob) => self.object(entry.id(), ObjectType::Blob, old.map(|o| o.id()))?,
                _ => {} // submodule commits are not ours to send
            }
        }
        self.object(tree.id(), ObjectType::Tree, base.map(Tree::id))
    }

    /// `id` as a delta against `base` when that is smaller, else whole.
    fn object(&mut self, id: Oid, kind: ObjectType, base: Option<Oid>) -> Result<(), git2::Error> {
        if self.written.contains(&id) {
            return Ok(());
        }
        let Some(base) = base else { return self.whole(id, kind) };
        let entry = {
            let target = self.odb.read(id)?;
            let delta = delta(self.odb.read(base)?.data(), target.data());
            (delta.len() + 20 < target.len()).then(|| {
                let mut entry = header(REF_DELTA, delta.len());
                entry.extend_from_slice(base.as_bytes());
                entry.extend(deflate(&delta));
                entry
            })
        };
        match entry {
            Some(entry) => {
                self.deltas += 1;
                self.push(id, entry)
            }
            None => return self.whole(id, kind),
        }
        Ok(())
    }

    fn whole(&mut self, id: Oid, kind: ObjectType) -> Result<(), git2::Error> {
        if self.written.contains(&id) {
            return Ok(());
        }
        let entry = {
            let object = self.odb.read(id)?;
            let code = match kind {
                ObjectType::Commit => 1,
                ObjectType::Tree => 2,
                ObjectType::Blob => 3,
                _ => 4,
            };
            let mut entry = header(code, object.len());
            entry.extend(deflate(object.data()));
            entry
        };
        self.push(id, entry);
        Ok(())
    }

    fn push(&mut self, id: Oid, entry: Vec<u8>) {
        self.written.insert(id);
        self.size += entry.len();
        self.entries.push(entry);
    }

    fn finish(self) -> ThinPack {
        use sha1::Digest;
        let objects = self.entries.len();
        let mut bytes = Vec::with_capacity(32 + self.entries.iter().map(Vec::len).sum::<usize>());
        bytes.extend_from_slice(b"PACK");
        bytes.extend_from_slice(&2u32.to_be_bytes());
        bytes.extend_from_slice(&(objects as u32).to_be_bytes());
        for entry in &self.entries {
            bytes.extend_from_slice(entry);
        }
        let sum = sha1::Sha1::digest(&bytes);
        bytes.extend_from_slice(&sum);
        ThinPack { bytes, objects, deltas: self.deltas }
    }
}

const REF_DELTA: u8 = 7;

/// An object's header in a pack: its type and size (the size of the data before zlib).
fn header(kind: u8, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    let mut byte = (kind << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest > 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).expect("writing to memory");
    z.finish().expect("writing to memory")
}

/// Git's delta of `target` against `source`: copy the common prefix, insert the middle, copy the
/// common suffix.
fn delta(source: &[u8], target: &[u8]) -> Vec<u8> {
    let prefix = source.iter().zip(target).take_while(|(a, b)| a == b).count();
    let room = source.len().min(target.len()) - prefix;
    let suffix = source.iter().rev().zip(target.iter().rev()).take(room).take_while(|(a, b)| a == b).count();
    let mut out = Vec::new();
    varint(&mut out, source.len());
    varint(&mut out, target.len());
    copy(&mut out, 0, prefix);
    for chunk in target[prefix..target.len() - suffix].chunks(0x7f) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    copy(&mut out, source.len() - suffix, suffix);
    out
}

fn varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Copy instructions for `len` bytes of the source from `offset`, in pieces of at most 64 KiB
/// (the largest copy every Git reads).
fn copy(out: &mut Vec<u8>, mut offset: usize, mut len: usize) {
    while len > 0 {
        let piece = len.min(0x10000);
        let mut op = 0x80u8;
        let mut args = Vec::with_capacity(7);
        for i in 0..4 {
            let byte = (offset >> (8 * i)) as u8;
            if byte != 0 {
                op |= 1 << i;
                args.push(byte);
            }
        }
        // A size of 0x10000 is written as no size bytes at all.
        for i in 0..3 {
            let byte = ((piece & 0xffff) >> (8 * i)) as u8;
            if byte != 0 {
                op |= 0x10 << i;
                args.push(byte);
            }
        }
        out.push(op);
        out.extend(args);
        offset += piece;
        len -= piece;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a delta as Git does (the reference for the encoder above).
    fn apply(source: &[u8], delta: &[u8]) -> Vec<u8> {
        let mut at = 0;
        let mut read_varint = || {
            let (mut n, mut shift) = (0usize, 0);
            loop {
                let b = delta[at];
                at += 1;
                n |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return n;
                }
            }
        };
        assert_eq!(read_varint(), source.len());
        let size = read_varint();
        let mut out = Vec::new();
        while at < delta.len() {
            let op = delta[at];
            at += 1;
            if op & 0x80 != 0 {
                let (mut offset, mut len) = (0usize, 0usize);
                for i in 0..4 {
                    if op & (1 << i) != 0 {
                        offset |= (delta[at] as usize) << (8 * i);
                        at += 1;
                    }
                }
                for i in 0..3 {
                    if op & (0x10 << i) != 0 {
                        len |= (delta[at] as usize) << (8 * i);
                        at += 1;
                    }
                }
                let len = if len == 0 { 0x10000 } else { len };
                out.extend_from_slice(&source[offset..offset + len]);
            } else {
                assert!(op > 0, "0 is reserved");
                out.extend_from_slice(&delta[at..at + op as usize]);
                at += op as usize;
            }
        }
        assert_eq!(out.len(), size);
        out
    }

    #[test]
    fn deltas_rebuild_the_target_for_edits_anywhere_and_copies_past_64_kib() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut edited = big.clone();
        edited.splice(70_000..70_010, b"changed in the middle".iter().copied());
        let cases: [(&[u8], &[u8]); 7] = [
            (b"id: a\nmessage: one\n", b"id: a\nmessage: two\n"),
            (b"abc", b"abcdef"),
            (b"abcdef", b"abc"),
            (b"", b"all new"),
            (b"same", b"same"),
            (b"aaaa", b"aa"),
            (&big, &edited),
        ];
        for (source, target) in cases {
            assert_eq!(apply(source, &delta(source, target)), target, "{:?}", String::from_utf8_lossy(&target[..target.len().min(20)]));
        }
        assert!(delta(&big, &edited).len() < 60, "one edit: a few copy and insert instructions");
    }

    #[test]
    fn headers_carry_type_and_size() {
        assert_eq!(header(3, 5), vec![0x35]);
        assert_eq!(header(2, 100), vec![0xa4, 0x06]);
        assert_eq!(header(REF_DELTA, 0), vec![0x70]);
    }
}
