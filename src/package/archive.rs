//! Package archives: compressed tar files with metadata first and the payload in
//! `+CONTENTS` order.
//!
//! [`open_tar`] detects the compression by magic (gzip, bzip2, xz, zstd or
//! none) and [`read_metadata`] reads the leading `+` files, enforcing
//! pkg_install's order. [`PackageWriter`] writes archives pkg_install's
//! `pkg_add` accepts.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Metadata files in the order pkg_install's `pkg_create` writes them.
pub const METADATA_ORDER: &[&str] = &[
    "+CONTENTS",
    "+COMMENT",
    "+DESC",
    "+INSTALL",
    "+DEINSTALL",
    "+DISPLAY",
    "+MTREE_DIRS",
    "+BUILD_VERSION",
    "+BUILD_INFO",
    "+SIZE_PKG",
    "+SIZE_ALL",
    "+PRESERVE",
];

/// A compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`.tgz`), pkg_install's default.
    Gzip,
    /// bzip2 (`.tbz`).
    Bzip2,
    /// xz (`.txz`).
    Xz,
    /// zstd (`.tzst`), depot's fast format.
    Zstd,
}

impl Compression {
    /// Detect from the first bytes of a file.
    pub fn from_magic(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(b"BZh") {
            Compression::Bzip2
        } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Choose from an output file name's suffix, as pkg_create does (unknown: gzip).
    #[expect(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "package suffixes are lower case, as pkg_create writes them"
    )]
    pub fn from_file_name(name: &str) -> Compression {
        if name.ends_with(".tbz") || name.ends_with(".tar.bz2") {
            Compression::Bzip2
        } else if name.ends_with(".txz") || name.ends_with(".tar.xz") {
            Compression::Xz
        } else if name.ends_with(".tzst") || name.ends_with(".tar.zst") {
            Compression::Zstd
        } else if name.ends_with(".tar") {
            Compression::None
        } else {
            Compression::Gzip
        }
    }

    /// A reader of what `input` holds once decompressed (multi-member gzip,
    /// bzip2 and xz streams read to the end; `None` passes it through).
    pub fn decoder<'a>(
        self,
        input: impl std::io::BufRead + Send + 'a,
    ) -> std::io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        })
    }

    /// Parse pkg_create's `-F` argument.
    pub fn from_name(name: &str) -> Option<Compression> {
        Some(match name {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "bzip2" => Compression::Bzip2,
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            _ => return None,
        })
    }
}

/// A tar stream over a decompressed package file.
pub type TarReader = tar::Archive<Box<dyn Read>>;

/// Decompresses on a background thread, like `tar -xzf` piping through gzip:
/// inflating overlaps with parsing and writing files on a second core.
struct ThreadedReader {
    /// `None` only while dropping.
    chunks: Option<std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>>,
    /// The decompressing thread, joined on drop: none outlives its reader.
    worker: Option<std::thread::JoinHandle<()>>,
    spent: std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
    done: bool,
}

impl ThreadedReader {
    fn new(mut inner: Box<dyn Read + Send>) -> ThreadedReader {
        let (sender, chunks) = std::sync::mpsc::sync_channel(32);
        // Spent buffers come back for reuse: fresh zeroed pages cost page faults.
        let (spent, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
        let worker = std::thread::spawn(move || {
            loop {
                let mut buffer = recycled.try_recv().unwrap_or_default();
                buffer.resize(256 * 1024, 0);
                let mut filled = 0;
                // Fill whole chunks so the channel carries few, large messages.
                while filled < buffer.len() {
                    match inner.read(&mut buffer[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = sender.send(Err(e));
                            return;
                        }
                    }
                }
                buffer.truncate(filled);
                let last = filled == 0;
                if sender.send(Ok(buffer)).is_err() || last {
                    return;
                }
            }
        });
        ThreadedReader {
            chunks: Some(chunks),
            worker: Some(worker),
            spent,
            current: Vec::new(),
            position: 0,
            done: false,
        }
    }
}

impl Read for ThreadedReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.current.len() {
            if self.done {
                return Ok(0);
            }
            let Some(chunks) = &self.chunks else {
                return Ok(0);
            };
            match chunks.recv() {
                Ok(Ok(chunk)) => {
                    if chunk.is_empty() {
                        self.done = true;
                    }
                    let old = std::mem::replace(&mut self.current, chunk);
                    let _ = self.spent.send(old);
                    self.position = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    self.done = true;
                }
            }
        }
        let n = out.len().min(self.current.len() - self.position);
        out[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

impl Drop for ThreadedReader {
    /// A reader dropped early (only the metadata was wanted) stops its
    /// thread: the thread's next send fails once the receiver is gone.
    fn drop(&mut self) {
        drop(self.chunks.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Open a package file as a tar stream, detecting the compression by magic;
/// it is decompressed on a background thread, for reading the whole payload.
pub fn open_tar(path: &Path) -> Result<TarReader> {
    open_tar_with(path, true)
}

/// Open a package file as a tar stream; decompressed on a background thread
/// when `background`, else as it is read (for the metadata alone: a thread
/// would decompress megabytes ahead that nobody reads).
fn open_tar_with(path: &Path, background: bool) -> Result<TarReader> {
    let file = fs_err::File::open(path)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let magic = {
        use std::io::BufRead;
        reader
            .fill_buf()
            .with_context(|| format!("cannot read {}", path.display()))?
            .to_vec()
    };
    let compression = Compression::from_magic(&magic);
    if compression == Compression::None {
        // Packages are ustar archives: anything else is not read at all, so
        // an error cannot quote what some other file holds.
        if magic.get(257..262) != Some(b"ustar".as_slice()) {
            bail!(
                "{}: not a package: it is neither a compressed archive (gzip, bzip2, xz, zstd) nor a tar archive",
                path.display()
            );
        }
        return Ok(tar::Archive::new(Box::new(reader)));
    }
    let decoder = compression.decoder(reader)?;
    if background {
        Ok(tar::Archive::new(Box::new(ThreadedReader::new(decoder))))
    } else {
        Ok(tar::Archive::new(decoder))
    }
}

/// The metadata files of a package, in archive order.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// (name, content) in archive order.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Metadata {
    /// A metadata file's content.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_slice())
    }

    /// A metadata file as text (lossy).
    pub fn text(&self, name: &str) -> Option<String> {
        self.str(name).map(std::borrow::Cow::into_owned)
    }

    /// A metadata file as text (lossy), borrowed when it is valid UTF-8: a
    /// large `+CONTENTS` is parsed without a copy.
    pub fn str(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.get(name).map(String::from_utf8_lossy)
    }
}

/// Upper bound on one metadata file (pkg_install reads them into memory too).
const MAX_METADATA_SIZE: u64 = 64 * 1024 * 1024;

/// Read the leading metadata entries of `entries`, stopping before the first payload
/// entry, which is returned. Enforces pkg_install's order and required files.
pub fn read_metadata_entries<'a, R: Read + 'a>(
    package: &Path,
    entries: &mut tar::Entries<'a, R>,
) -> Result<(Metadata, Option<tar::Entry<'a, R>>)> {
    let mut metadata = Metadata::default();
    let mut last_rank: Option<usize> = None;
    let mut first_payload = None;
    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| corrupt(package, &e))?;
        let name = entry_name(&entry)?;
        if !name.starts_with('+') {
            first_payload = Some(entry);
            break;
        }
        if metadata.files.is_empty() && name != "+CONTENTS" {
            bail!(
                "{}: the first entry is {name}, but a package must start with +CONTENTS; was it made with pkg_create or depot create?",
                package.display()
            );
        }
        if metadata.get(&name).is_some() {
            bail!("{}: metadata file {name} appears twice", package.display());
        }
        if let Some(rank) = METADATA_ORDER.iter().position(|n| *n == name) {
            if let Some(last) = last_rank
                && rank < last
            {
                bail!(
                    "{}: metadata file {name} comes after {}; pkg_install's order is {}",
                    package.display(),
                    METADATA_ORDER[last],
                    METADATA_ORDER.join(" ")
                );
            }
            last_rank = Some(rank);
        }
        if entry.header().entry_type() != tar::EntryType::Regular
            || entry.size() > MAX_METADATA_SIZE
        {
            bail!(
                "{}: metadata entry {name} is not a regular file of sane size",
                package.display()
            );
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut content).with_context(|| {
            format!(
                "{}: cannot read {name}: the archive is corrupt or truncated",
                package.display()
            )
        })?;
        metadata.files.push((name, content));
    }
    for required in ["+CONTENTS", "+COMMENT", "+DESC"] {
        if metadata.get(required).is_none() {
            bail!(
                "{}: not a valid package: {required} is missing",
                package.display()
            );
        }
    }
    Ok((metadata, first_payload))
}

/// Pass over the leading metadata entries of `entries`, which must be those of
/// `known` (read from the same file before, by [`read_metadata`]): same names
/// in the same order, same sizes. Returns the first payload entry. What is
/// installed then comes from one reading of the metadata, whatever happens to
/// the file between the two.
pub fn skip_metadata_entries<'a, R: Read + 'a>(
    package: &Path,
    entries: &mut tar::Entries<'a, R>,
    known: &Metadata,
) -> Result<Option<tar::Entry<'a, R>>> {
    let changed = || {
        anyhow::anyhow!(
            "{}: the package file changed while it was being installed; run the command again",
            package.display()
        )
    };
    let mut expected = known.files.iter();
    for entry in entries.by_ref() {
        let entry = entry.map_err(|e| corrupt(package, &e))?;
        let name = entry_name(&entry)?;
        if !name.starts_with('+') {
            if expected.next().is_some() {
                return Err(changed());
            }
            return Ok(Some(entry));
        }
        match expected.next() {
            Some((known_name, content))
                if *known_name == name && entry.size() == content.len() as u64 => {}
            _ => return Err(changed()),
        }
    }
    if expected.next().is_some() {
        return Err(changed());
    }
    Ok(None)
}

/// Read only the metadata of a package file.
pub fn read_metadata(package: &Path) -> Result<Metadata> {
    let mut tar = open_tar_with(package, false)?;
    let mut entries = tar
        .entries()
        .with_context(|| format!("{}: cannot read archive", package.display()))?;
    Ok(read_metadata_entries(package, &mut entries)?.0)
}

/// The error for an archive the tar reader cannot go on reading.
fn corrupt(package: &Path, error: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: the archive is corrupt or truncated ({}); download or rebuild the package",
        package.display(),
        tar_error(error)
    )
}

/// What the tar reader said about a broken archive, as a short escaped
/// excerpt: its messages quote header fields, which may be anything.
pub fn tar_error(error: &std::io::Error) -> String {
    crate::quote::excerpt(&error.to_string(), 48)
}

/// The entry's path as a string (pax and GNU long names honoured).
pub fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String> {
    let bytes = entry.path_bytes();
    let name = String::from_utf8(bytes.into_owned())
        .map_err(|e| anyhow::anyhow!("archive entry name is not UTF-8: {:?}", e.as_bytes()))?;
    Ok(name.strip_prefix("./").map(str::to_owned).unwrap_or(name))
}

enum Encoder {
    None(BufWriter<fs_err::File>),
    Gzip(flate2::write::GzEncoder<BufWriter<fs_err::File>>),
    Bzip2(bzip2::write::BzEncoder<BufWriter<fs_err::File>>),
    Xz(liblzma::write::XzEncoder<BufWriter<fs_err::File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<fs_err::File>>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Bzip2(w) => w.write(buf),
            Encoder::Xz(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            Encoder::Bzip2(w) => w.flush(),
            Encoder::Xz(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
        }
    }
}

impl Encoder {
    fn finish(self) -> std::io::Result<()> {
        let mut inner = match self {
            Encoder::None(w) => w,
            Encoder::Gzip(w) => w.finish()?,
            Encoder::Bzip2(w) => w.finish()?,
            Encoder::Xz(w) => w.finish()?,
            Encoder::Zstd(w) => w.finish()?,
        };
        inner.flush()?;
        inner
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()
    }
}

/// Writes a package archive entry by entry. Call [`PackageWriter::finish`].
pub struct PackageWriter {
    builder: tar::Builder<Encoder>,
    path: PathBuf,
    mtime: u64,
}

impl PackageWriter {
    /// Create `path` with the given compression.
    pub fn create(path: &Path, compression: Compression) -> Result<PackageWriter> {
        let file = BufWriter::with_capacity(256 * 1024, fs_err::File::create(path)?);
        let encoder = match compression {
            Compression::None => Encoder::None(file),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )),
            Compression::Bzip2 => Encoder::Bzip2(bzip2::write::BzEncoder::new(
                file,
                bzip2::Compression::best(),
            )),
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(file, 6)),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(file, 6)?),
        };
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        let mtime = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| pkgdb::now() as u64);
        Ok(PackageWriter {
            builder,
            path: path.to_owned(),
            mtime,
        })
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        let _ = header.set_username("root");
        let _ = header.set_groupname("wheel");
        header
    }

    /// Append an in-memory file (a metadata file).
    pub fn append_bytes(&mut self, name: &str, mode: u32, content: &[u8]) -> Result<()> {
        let mut header = self.header(tar::EntryType::Regular, mode, content.len() as u64);
        self.builder
            .append_data(&mut header, name, content)
            .with_context(|| format!("cannot write {name} to {}", self.path.display()))
    }

    /// Append a regular file read from `source`.
    pub fn append_file(&mut self, name: &str, mode: u32, source: &Path) -> Result<()> {
        let file = fs_err::File::open(source)?;
        let size = file.metadata()?.len();
        let mut header = self.header(tar::EntryType::Regular, mode, size);
        self.builder
            .append_data(&mut header, name, file)
            .with_context(|| format!("cannot write {name} to {}", self.path.display()))
    }

    /// Append a symbolic link.
    pub fn append_symlink(&mut self, name: &str, target: &str) -> Result<()> {
        let mut header = self.header(tar::EntryType::Symlink, 0o755, 0);
        self.builder
            .append_link(&mut header, name, target)
            .with_context(|| format!("cannot write symlink {name} to {}", self.path.display()))
    }

    /// Append a hard link to an earlier entry.
    pub fn append_hardlink(&mut self, name: &str, mode: u32, target: &str) -> Result<()> {
        let mut header = self.header(tar::EntryType::Link, mode, 0);
        self.builder
            .append_link(&mut header, name, target)
            .with_context(|| format!("cannot write hard link {name} to {}", self.path.display()))
    }

    /// Finish the archive and flush it to disk.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let encoder = self
            .builder
            .into_inner()
            .with_context(|| format!("cannot finish {}", path.display()))?;
        encoder
            .finish()
            .with_context(|| format!("cannot finish {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(path: &Path, contents: &str, comment: &str) {
        let mut writer = PackageWriter::create(path, Compression::Gzip).unwrap();
        writer
            .append_bytes("+CONTENTS", 0o644, contents.as_bytes())
            .unwrap();
        writer
            .append_bytes("+COMMENT", 0o644, comment.as_bytes())
            .unwrap();
        writer.append_bytes("+DESC", 0o644, b"d\n").unwrap();
        writer.append_bytes("bin/a", 0o755, b"a\n").unwrap();
        writer.finish().unwrap();
    }

    /// Unpacking passes over the metadata it read when planning, entry by
    /// entry; a file that changed in between is refused, not half believed.
    #[test]
    fn metadata_read_before_must_still_be_the_archives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p-1.0.tgz");
        package(&path, "@name p-1.0\nbin/a\n", "c\n");
        let known = read_metadata(&path).unwrap();

        let mut tar = open_tar(&path).unwrap();
        let mut entries = tar.entries().unwrap();
        let first = skip_metadata_entries(&path, &mut entries, &known).unwrap();
        assert_eq!(entry_name(&first.unwrap()).unwrap(), "bin/a");

        // The same names, one of another size: the file was replaced.
        package(&path, "@name p-1.0\nbin/a\n", "another comment\n");
        let mut tar = open_tar(&path).unwrap();
        let mut entries = tar.entries().unwrap();
        let error = skip_metadata_entries(&path, &mut entries, &known)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("changed while it was being installed"),
            "{error}"
        );

        // One metadata file fewer than was read.
        let mut fewer = known.clone();
        fewer.files.push(("+DISPLAY".to_owned(), b"x\n".to_vec()));
        let mut tar = open_tar(&path).unwrap();
        let mut entries = tar.entries().unwrap();
        assert!(skip_metadata_entries(&path, &mut entries, &fewer).is_err());
    }
}
